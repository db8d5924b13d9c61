"""browser sessions: a refresh cookie keeps a user signed in across reloads (issue 22, ADR 0003)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:20:00

- ``user_sessions``: one row per signed-in browser, holding hashes of its refresh secret (the
  current one and the one it replaced) and the user's ``token_version`` at sign-in. Rows go with
  their user (ON DELETE CASCADE). Row level security shows a transaction exactly the session it
  names in ``app.session_id`` (from the cookie): no path lists or touches another session, the
  way the login lookup reads exactly one named user.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from appliance.db.migrations import helpers

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NAMED_SESSION = "id = NULLIF(current_setting('app.session_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        helpers.id_column(),
        *helpers.timestamp_columns(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        helpers.primary_key("user_sessions"),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)
    op.execute("ALTER TABLE user_sessions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE user_sessions FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY named_session ON user_sessions USING ({NAMED_SESSION}) WITH CHECK ({NAMED_SESSION})"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS named_session ON user_sessions")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
