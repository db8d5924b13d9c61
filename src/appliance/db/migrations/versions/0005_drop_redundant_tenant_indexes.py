"""drop tenant_id indexes that composite indexes already cover

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 16:00:00

Every ingested event inserts a sighting and usually an exemplar and a visit: each index is
one more insertion per row. ``ix_<table>_tenant_id`` duplicated the leading column of a
composite index on the same table (which serves tenant filters and ON DELETE CASCADE alike).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("sightings", "customer_exemplars", "visits", "customers")


def upgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)


def downgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"], unique=False)
