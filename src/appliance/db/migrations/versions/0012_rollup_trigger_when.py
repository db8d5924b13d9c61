"""visit updates that cannot change a rollup no longer mark it dirty

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:10:00

Every returning face updates its open visit (``last_seen``, ``sightings``); the rollups count
visits, distinct customers and new customers per ``first_seen`` bucket of a site, so only a change
of tenant, site, ``first_seen``, customer (a merge or split) or ``is_new_customer`` can change one.
The update trigger now fires for those alone (a ``WHEN`` clause: the function is not even
called), instead of an upsert into ``rollup_dirty`` and a ``sites`` lookup on every event.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ROLLUP_COLUMNS = ("tenant_id", "site_id", "first_seen", "customer_id", "is_new_customer")
CHANGED = "({old}) IS DISTINCT FROM ({new})".format(
    old=", ".join(f"OLD.{c}" for c in ROLLUP_COLUMNS), new=", ".join(f"NEW.{c}" for c in ROLLUP_COLUMNS)
)


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS visits_mark_rollups ON visits")
    op.execute(
        "CREATE TRIGGER visits_mark_rollups AFTER INSERT OR DELETE ON visits"
        " FOR EACH ROW EXECUTE FUNCTION mark_visit_rollups_dirty()"
    )
    op.execute(
        "CREATE TRIGGER visits_mark_rollups_update AFTER UPDATE ON visits"
        f" FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION mark_visit_rollups_dirty()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS visits_mark_rollups_update ON visits")
    op.execute("DROP TRIGGER IF EXISTS visits_mark_rollups ON visits")
    op.execute(
        "CREATE TRIGGER visits_mark_rollups AFTER INSERT OR UPDATE OR DELETE ON visits"
        " FOR EACH ROW EXECUTE FUNCTION mark_visit_rollups_dirty()"
    )
