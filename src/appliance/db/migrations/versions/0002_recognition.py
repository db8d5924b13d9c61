"""recognition core tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:35:09.666887
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from appliance.db.migrations import helpers
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
        helpers.id_column(),
        helpers.same_tenant_foreign_key("customer_exemplars", "customer_id", "customers"),
        helpers.tenant_foreign_key("customer_exemplars"),
        helpers.primary_key("customer_exemplars"),
    )
    op.create_index("ix_customer_exemplars_customer", "customer_exemplars", ["customer_id"], unique=False)
    op.create_index(
        "ix_customer_exemplars_tenant_created",
        "customer_exemplars",
        ["tenant_id", "created_at"],
        unique=False,
    )
    helpers.create_tenant_index("customer_exemplars")
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
        helpers.id_column(),
        helpers.same_tenant_foreign_key("merge_suggestions", "candidate_id", "customers"),
        helpers.same_tenant_foreign_key("merge_suggestions", "customer_id", "customers"),
        helpers.tenant_foreign_key("merge_suggestions"),
        helpers.primary_key("merge_suggestions"),
    )
    helpers.create_tenant_index("merge_suggestions")
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
        helpers.id_column(),
        helpers.same_tenant_foreign_key("staff_embeddings", "staff_id", "staff"),
        helpers.tenant_foreign_key("staff_embeddings"),
        helpers.primary_key("staff_embeddings"),
    )
    op.create_index(op.f("ix_staff_embeddings_staff_id"), "staff_embeddings", ["staff_id"], unique=False)
    helpers.create_tenant_index("staff_embeddings")
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
        helpers.same_tenant_foreign_key("sightings", "camera_id", "cameras", ondelete="SET NULL (camera_id)"),
        helpers.same_tenant_foreign_key("sightings", "customer_id", "customers"),
        helpers.same_tenant_foreign_key("sightings", "site_id", "sites"),
        helpers.same_tenant_foreign_key("sightings", "staff_id", "staff", ondelete="SET NULL (staff_id)"),
        helpers.same_tenant_foreign_key("sightings", "visit_id", "visits", ondelete="SET NULL (visit_id)"),
        helpers.tenant_foreign_key("sightings"),
        helpers.primary_key("sightings"),
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
    helpers.create_tenant_index("sightings")
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
    helpers.drop_tenant_index("sightings")
    op.drop_index("ix_sightings_tenant_captured", table_name="sightings")
    op.drop_index(
        "ix_sightings_image_captured",
        table_name="sightings",
        postgresql_where=sa.text("image_path IS NOT NULL"),
    )
    op.drop_index("ix_sightings_customer", table_name="sightings")
    op.drop_table("sightings")
    helpers.drop_tenant_index("staff_embeddings")
    op.drop_index(op.f("ix_staff_embeddings_staff_id"), table_name="staff_embeddings")
    op.drop_table("staff_embeddings")
    op.drop_index("ix_merge_suggestions_tenant_status", table_name="merge_suggestions")
    helpers.drop_tenant_index("merge_suggestions")
    op.drop_table("merge_suggestions")
    helpers.drop_tenant_index("customer_exemplars")
    op.drop_index("ix_customer_exemplars_tenant_created", table_name="customer_exemplars")
    op.drop_index("ix_customer_exemplars_customer", table_name="customer_exemplars")
    op.drop_table("customer_exemplars")
    # Last: the composite foreign keys of the dropped tables relied on these.
    op.drop_constraint(op.f("uq_visits_tenant_id_id"), "visits", type_="unique")
    op.drop_constraint(op.f("uq_staff_tenant_id_id"), "staff", type_="unique")
