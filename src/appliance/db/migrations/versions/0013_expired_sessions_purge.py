"""the retention purge removes browser sessions past their absolute end

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:10:00

``user_sessions`` shows a transaction only the session it names (``app.session_id``), so no
job could remove a session nobody presents again: rows piled up for ever. A platform-admin
transaction (the purge job's) may now read and delete the sessions whose ``expires_at`` has
passed — rows that can no longer sign anyone in — and nothing else.
"""

from __future__ import annotations

from alembic import op

from appliance.db.rls import PLATFORM_ADMIN

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

EXPIRED = f"{PLATFORM_ADMIN} AND expires_at < now()"


def upgrade() -> None:
    # DELETE ... WHERE reads the rows, so the SELECT policy must admit them as well.
    op.execute(f"CREATE POLICY expired_read ON user_sessions FOR SELECT USING ({EXPIRED})")
    op.execute(f"CREATE POLICY expired_delete ON user_sessions FOR DELETE USING ({EXPIRED})")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS expired_delete ON user_sessions")
    op.execute("DROP POLICY IF EXISTS expired_read ON user_sessions")
