"""recognition core tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:35:09.666887
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from appliance.db.rls import disable_rls, enable_rls, reset_users_policies

TABLES = ("sightings", "customer_exemplars", "staff_embeddings", "merge_suggestions")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Targets of the composite (tenant-safe) foreign keys below.
    op.create_unique_constraint(op.f("uq_staff_tenant_id_id"), "staff", ["tenant_id", "id"])
    op.create_unique_constraint(op.f("uq_visits_tenant_id_id"), "visits", ["tenant_id", "id"])
    op.create_table(
        "customer_exemplars",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("sighting_id", sa.Uuid(), nullable=True),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name=op.f("fk_customer_exemplars_tenant_id_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_customer_exemplars_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_exemplars")),
    )
    op.create_index("ix_customer_exemplars_customer", "customer_exemplars", ["customer_id"], unique=False)
    op.create_index(
        "ix_customer_exemplars_tenant_created",
        "customer_exemplars",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_customer_exemplars_tenant_id"), "customer_exemplars", ["tenant_id"], unique=False
    )
    op.create_table(
        "merge_suggestions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("sighting_id", sa.Uuid(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "candidate_id"],
            ["customers.tenant_id", "customers.id"],
            name=op.f("fk_merge_suggestions_tenant_id_candidate_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name=op.f("fk_merge_suggestions_tenant_id_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_merge_suggestions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_suggestions")),
    )
    op.create_index(op.f("ix_merge_suggestions_tenant_id"), "merge_suggestions", ["tenant_id"], unique=False)
    op.create_index(
        "ix_merge_suggestions_tenant_status",
        "merge_suggestions",
        ["tenant_id", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "staff_embeddings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("photo_key", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_staff_embeddings_tenant_id_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_staff_embeddings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_embeddings")),
    )
    op.create_index(op.f("ix_staff_embeddings_staff_id"), "staff_embeddings", ["staff_id"], unique=False)
    op.create_index(op.f("ix_staff_embeddings_tenant_id"), "staff_embeddings", ["tenant_id"], unique=False)
    op.create_table(
        "sightings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("det_score", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("is_staff", sa.Boolean(), nullable=False),
        sa.Column("is_new_customer", sa.Boolean(), nullable=False),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("image_path", sa.String(length=512), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "camera_id"],
            ["cameras.tenant_id", "cameras.id"],
            name=op.f("fk_sightings_tenant_id_camera_id_cameras"),
            ondelete="SET NULL (camera_id)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name=op.f("fk_sightings_tenant_id_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"],
            ["sites.tenant_id", "sites.id"],
            name=op.f("fk_sightings_tenant_id_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_sightings_tenant_id_staff_id_staff"),
            ondelete="SET NULL (staff_id)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "visit_id"],
            ["visits.tenant_id", "visits.id"],
            name=op.f("fk_sightings_tenant_id_visit_id_visits"),
            ondelete="SET NULL (visit_id)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sightings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
    )
    op.create_index("ix_sightings_customer", "sightings", ["customer_id", "captured_at"], unique=False)
    op.create_index(
        "ix_sightings_image_captured",
        "sightings",
        ["captured_at"],
        unique=False,
        postgresql_where=sa.text("image_path IS NOT NULL"),
    )
    op.create_index("ix_sightings_tenant_captured", "sightings", ["tenant_id", "captured_at"], unique=False)
    op.create_index(op.f("ix_sightings_tenant_id"), "sightings", ["tenant_id"], unique=False)
    op.create_index("ix_sightings_visit", "sightings", ["visit_id"], unique=False)
    op.add_column("visits", sa.Column("best_quality", sa.Float(), server_default="0", nullable=False))

    for table in ("visits", "audit_log"):
        op.alter_column(table, "created_at", server_default=sa.text("now()"))
    enable_rls(TABLES)
    reset_users_policies()


def downgrade() -> None:
    disable_rls(TABLES)
    for table in ("visits", "audit_log"):
        op.alter_column(table, "created_at", server_default=None)
    op.drop_column("visits", "best_quality")
    op.drop_index("ix_sightings_visit", table_name="sightings")
    op.drop_index(op.f("ix_sightings_tenant_id"), table_name="sightings")
    op.drop_index("ix_sightings_tenant_captured", table_name="sightings")
    op.drop_index(
        "ix_sightings_image_captured",
        table_name="sightings",
        postgresql_where=sa.text("image_path IS NOT NULL"),
    )
    op.drop_index("ix_sightings_customer", table_name="sightings")
    op.drop_table("sightings")
    op.drop_index(op.f("ix_staff_embeddings_tenant_id"), table_name="staff_embeddings")
    op.drop_index(op.f("ix_staff_embeddings_staff_id"), table_name="staff_embeddings")
    op.drop_table("staff_embeddings")
    op.drop_index("ix_merge_suggestions_tenant_status", table_name="merge_suggestions")
    op.drop_index(op.f("ix_merge_suggestions_tenant_id"), table_name="merge_suggestions")
    op.drop_table("merge_suggestions")
    op.drop_index(op.f("ix_customer_exemplars_tenant_id"), table_name="customer_exemplars")
    op.drop_index("ix_customer_exemplars_tenant_created", table_name="customer_exemplars")
    op.drop_index("ix_customer_exemplars_customer", table_name="customer_exemplars")
    op.drop_table("customer_exemplars")
    # Last: the composite foreign keys of the dropped tables relied on these.
    op.drop_constraint(op.f("uq_visits_tenant_id_id"), "visits", type_="unique")
    op.drop_constraint(op.f("uq_staff_tenant_id_id"), "staff", type_="unique")
