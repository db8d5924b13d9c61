"""keep embeddings inline, and mark a visit's rollup bucket dirty once per update

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 18:00:00

Two per-event costs of ingest (measured with perf on the ingest bench):

- A sighting or exemplar row with a 512-D embedding (2 KB) is just over PostgreSQL's 2 KB
  TOAST threshold, so every insert tried to compress the random floats (in vain) and then
  moved them to the TOAST table: two more inserts. ``toast_tuple_target`` raises the size at
  which that starts to 4 KB, so such rows stay in the table page. (Applies to new rows.)
- The visits trigger inserted the rollup bucket of the old and of the new row on every update,
  and nearly every update (a sighting folding into an open visit) leaves the bucket unchanged.
"""

from __future__ import annotations

import importlib

from alembic import op

from appliance.db.migrations import helpers

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("sightings", "customer_exemplars")
INLINE_UP_TO = 4080
"""Bytes: a 512-D float32 embedding and the rest of the row, with room to spare."""

MARK_DIRTY_BODY = f"""
DECLARE
    current_tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.tenant_id, OLD.site_id, OLD.first_seen)
                               IS DISTINCT FROM (NEW.tenant_id, NEW.site_id, NEW.first_seen)) THEN
        IF current_tenant IS NULL OR OLD.tenant_id = current_tenant THEN
{helpers.mark_bucket_dirty("OLD", indent=12)}
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (current_tenant IS NULL OR NEW.tenant_id = current_tenant) THEN
{helpers.mark_bucket_dirty("NEW", indent=8)}
    END IF;
    RETURN NULL;
END
"""


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = {INLINE_UP_TO})")
    op.execute(
        "CREATE OR REPLACE FUNCTION mark_visit_rollups_dirty() RETURNS trigger LANGUAGE plpgsql"
        f" AS $${MARK_DIRTY_BODY}$$"
    )


def downgrade() -> None:
    # Back to the function as migration 0003 created it.
    previous = importlib.import_module("appliance.db.migrations.versions.0003_rollups").MARK_DIRTY
    op.execute(previous.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")
