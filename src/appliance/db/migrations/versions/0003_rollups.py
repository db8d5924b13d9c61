"""report rollups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:48:09.020235
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db.migrations import helpers
from appliance.db.rls import disable_rls, enable_rls

TABLES = ("visit_rollups", "rollup_dirty")

# Every change to a visit marks its site-local day dirty; the refresh job (and reports, on
# demand) recompute only dirty buckets. The current tenant must own the row (or no tenant is
# set: the owner seeding data), so RLS holds for the bookkeeping row too.
MARK_DIRTY = f"""
CREATE FUNCTION mark_visit_rollups_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND (current_tenant IS NULL OR OLD.tenant_id = current_tenant) THEN
{helpers.mark_bucket_dirty("OLD", indent=8)}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (current_tenant IS NULL OR NEW.tenant_id = current_tenant) THEN
{helpers.mark_bucket_dirty("NEW", indent=8)}
    END IF;
    RETURN NULL;
END $$
"""


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_dirty",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        helpers.same_tenant_foreign_key("rollup_dirty", "site_id", "sites"),
        helpers.tenant_foreign_key("rollup_dirty"),
        helpers.id_column(),
        helpers.primary_key("rollup_dirty"),
        sa.UniqueConstraint(
            "tenant_id", "site_id", "day", name=op.f("uq_rollup_dirty_tenant_id_site_id_day")
        ),
    )
    helpers.create_tenant_index("rollup_dirty")
    op.create_table(
        "visit_rollups",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.DateTime(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("unique_visitors", sa.Integer(), nullable=False),
        sa.Column("new_visitors", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        helpers.same_tenant_foreign_key("visit_rollups", "site_id", "sites"),
        helpers.tenant_foreign_key("visit_rollups"),
        helpers.id_column(),
        helpers.primary_key("visit_rollups"),
        sa.UniqueConstraint(
            "tenant_id",
            "site_id",
            "granularity",
            "bucket",
            name=op.f("uq_visit_rollups_tenant_id_site_id_granularity_bucket"),
        ),
    )
    helpers.create_tenant_index("visit_rollups")

    enable_rls(TABLES)
    op.execute(MARK_DIRTY)
    op.execute(
        "CREATE TRIGGER visits_mark_rollups AFTER INSERT OR UPDATE OR DELETE ON visits"
        " FOR EACH ROW EXECUTE FUNCTION mark_visit_rollups_dirty()"
    )
    # Visits recorded before this migration: everything is dirty once.
    op.execute(
        "INSERT INTO rollup_dirty (tenant_id, site_id, day)"
        " SELECT DISTINCT v.tenant_id, v.site_id, (v.first_seen AT TIME ZONE s.timezone)::date"
        " FROM visits v JOIN sites s ON s.id = v.site_id ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS visits_mark_rollups ON visits")
    op.execute("DROP FUNCTION IF EXISTS mark_visit_rollups_dirty()")
    disable_rls(TABLES)
    helpers.drop_tenant_index("visit_rollups")
    op.drop_table("visit_rollups")
    helpers.drop_tenant_index("rollup_dirty")
    op.drop_table("rollup_dirty")
