"""initial schema with row level security

Revision ID: 0001
Revises:
Create Date: 2026-11-25 12:16:47.449161
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from appliance.db.migrations import helpers
from appliance.db.rls import disable_rls, enable_rls

# Frozen here: later migrations enable RLS on their own tables.
TABLES = ("sites", "cameras", "staff", "customers", "visits", "api_keys", "users", "audit_log")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        helpers.id_column(),
        helpers.primary_key("audit_log"),
    )
    op.create_index("ix_audit_log_tenant_created", "audit_log", ["tenant_id", "created_at"], unique=False)
    helpers.create_tenant_index("audit_log")
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("visit_gap_minutes", sa.Integer(), server_default="30", nullable=False),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.primary_key("tenants"),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "customers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=64)), server_default="{}", nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("exemplar_count", sa.Integer(), server_default="0", nullable=False),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.tenant_foreign_key("customers"),
        helpers.primary_key("customers"),
        helpers.tenant_id_unique("customers"),
    )
    op.create_index(
        "ix_customers_tenant_created", "customers", ["tenant_id", "created_at", "id"], unique=False
    )
    helpers.create_tenant_index("customers")
    op.create_table(
        "sites",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.tenant_foreign_key("sites"),
        helpers.primary_key("sites"),
        helpers.tenant_id_unique("sites"),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sites_tenant_id_name")),
    )
    helpers.create_tenant_index("sites")
    op.create_table(
        "staff",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("site_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.tenant_foreign_key("staff"),
        helpers.primary_key("staff"),
    )
    helpers.create_tenant_index("staff")
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("site_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default="false", nullable=False),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.tenant_foreign_key("users"),
        helpers.primary_key("users"),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    helpers.create_tenant_index("users")
    op.create_table(
        "cameras",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.same_tenant_foreign_key("cameras", "site_id", "sites"),
        helpers.tenant_foreign_key("cameras"),
        helpers.primary_key("cameras"),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_cameras_site_id_name")),
        helpers.tenant_id_unique("cameras"),
    )
    op.create_index(op.f("ix_cameras_site_id"), "cameras", ["site_id"], unique=False)
    helpers.create_tenant_index("cameras")
    op.create_table(
        "visits",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sightings", sa.Integer(), server_default="1", nullable=False),
        sa.Column("is_new_customer", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("best_snapshot_key", sa.String(length=512), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        helpers.id_column(),
        helpers.same_tenant_foreign_key("visits", "customer_id", "customers"),
        helpers.same_tenant_foreign_key("visits", "site_id", "sites"),
        helpers.tenant_foreign_key("visits"),
        helpers.primary_key("visits"),
    )
    op.create_index("ix_visits_customer_last_seen", "visits", ["customer_id", "last_seen"], unique=False)
    helpers.create_tenant_index("visits")
    op.create_index(
        "ix_visits_tenant_site_first_seen", "visits", ["tenant_id", "site_id", "first_seen"], unique=False
    )
    op.create_table(
        "api_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        helpers.same_tenant_foreign_key("api_keys", "camera_id", "cameras"),
        helpers.same_tenant_foreign_key("api_keys", "site_id", "sites"),
        helpers.tenant_foreign_key("api_keys"),
        helpers.primary_key("api_keys"),
    )
    op.create_index(op.f("ix_api_keys_site_id"), "api_keys", ["site_id"], unique=False)
    helpers.create_tenant_index("api_keys")

    enable_rls(TABLES)


def downgrade() -> None:
    disable_rls(TABLES)
    helpers.drop_tenant_index("api_keys")
    op.drop_index(op.f("ix_api_keys_site_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_visits_tenant_site_first_seen", table_name="visits")
    helpers.drop_tenant_index("visits")
    op.drop_index("ix_visits_customer_last_seen", table_name="visits")
    op.drop_table("visits")
    helpers.drop_tenant_index("cameras")
    op.drop_index(op.f("ix_cameras_site_id"), table_name="cameras")
    op.drop_table("cameras")
    helpers.drop_tenant_index("users")
    op.drop_table("users")
    helpers.drop_tenant_index("staff")
    op.drop_table("staff")
    helpers.drop_tenant_index("sites")
    op.drop_table("sites")
    helpers.drop_tenant_index("customers")
    op.drop_index("ix_customers_tenant_created", table_name="customers")
    op.drop_table("customers")
    op.drop_table("tenants")
    helpers.drop_tenant_index("audit_log")
    op.drop_index("ix_audit_log_tenant_created", table_name="audit_log")
    op.drop_table("audit_log")
