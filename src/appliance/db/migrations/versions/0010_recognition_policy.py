"""recognition policy: each tenant's index holds one embedder's vectors; dismissed pairs are found fast

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:20:00

- ``tenants.embedder``: the model (``name@version``) whose vectors the tenant's index holds; set
  by the tenant's first face event when empty. An event of another model is refused (422): its
  similarities would mean nothing against these vectors (ADR 0010, runbook model-change.md).
- ``ix_merge_suggestions_pair``: ingest checks that a pair was not dismissed before suggesting it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("embedder", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_merge_suggestions_pair",
        "merge_suggestions",
        ["tenant_id", "customer_id", "candidate_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_merge_suggestions_pair", table_name="merge_suggestions")
    op.drop_column("tenants", "embedder")
