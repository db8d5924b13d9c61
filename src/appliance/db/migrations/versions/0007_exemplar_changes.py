"""exemplar change cursor: every exemplar write carries its transaction id; deletes leave tombstones

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00

The vector index is read from ``customer_exemplars`` and kept current by reading what changed
since a PostgreSQL snapshot (``vectors/changes.py``, ADR 0008): a row changed after snapshot S
is one whose ``change_xid`` is not visible in S — ``change_xid >= xmax(S)`` or one of S's
in-progress ids. Sequences would not do: they are handed out before commit, so a reader could
pass a value whose transaction commits later.

- ``customer_exemplars.change_xid``: the inserting or last updating transaction (a merge moves
  an exemplar by UPDATE of ``customer_id``).
- ``exemplar_tombstones``: one row per deleted exemplar (replacement, merge, split, erasure),
  written by a trigger in the deleting transaction. A tenant's own deletes only: deleting the
  tenant itself (platform admin) removes its index state with it.
- ``vector_watermarks``: per tenant and Milvus collection, the snapshot up to which the
  collection holds every change (the Milvus backend's watermark).
- ``ix_customer_exemplars_tenant_created`` goes: it served the recent-customers re-check that
  the change cursor replaces.
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STAMP_BODY = """
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END
"""

TOMBSTONE_BODY = """
DECLARE
    current_tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
BEGIN
    IF OLD.tenant_id = current_tenant THEN
        INSERT INTO exemplar_tombstones (tenant_id, exemplar_id, customer_id)
        VALUES (OLD.tenant_id, OLD.id, OLD.customer_id);
    END IF;
    RETURN NULL;
END
"""


def upgrade() -> None:
    rls = importlib.import_module("appliance.db.rls")
    op.execute(
        "ALTER TABLE customer_exemplars ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id()"
    )
    op.execute(
        "CREATE INDEX ix_customer_exemplars_tenant_change ON customer_exemplars (tenant_id, change_xid)"
    )
    op.execute(
        f"CREATE FUNCTION stamp_exemplar_change() RETURNS trigger LANGUAGE plpgsql AS $${STAMP_BODY}$$"
    )
    op.execute(
        "CREATE TRIGGER exemplar_change_stamp BEFORE UPDATE ON customer_exemplars"
        " FOR EACH ROW EXECUTE FUNCTION stamp_exemplar_change()"
    )
    op.execute(
        """
CREATE TABLE exemplar_tombstones (
    tenant_id uuid NOT NULL,
    exemplar_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    change_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    deleted_at timestamptz NOT NULL DEFAULT now()
)"""
    )
    op.execute(
        "CREATE INDEX ix_exemplar_tombstones_tenant_change ON exemplar_tombstones (tenant_id, change_xid)"
    )
    op.execute("CREATE INDEX ix_exemplar_tombstones_deleted_at ON exemplar_tombstones (deleted_at)")
    rls.enable_rls(("exemplar_tombstones",))
    op.execute(
        """
CREATE TABLE vector_watermarks (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    collection varchar(255) NOT NULL,
    snapshot varchar NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, collection)
)"""
    )
    rls.enable_rls(("vector_watermarks",))
    op.execute("DROP INDEX IF EXISTS ix_customer_exemplars_tenant_created")
    op.execute(
        "CREATE FUNCTION record_exemplar_tombstone() RETURNS trigger LANGUAGE plpgsql"
        f" AS $${TOMBSTONE_BODY}$$"
    )
    op.execute(
        "CREATE TRIGGER exemplar_tombstone AFTER DELETE ON customer_exemplars"
        " FOR EACH ROW EXECUTE FUNCTION record_exemplar_tombstone()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS vector_watermarks")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_customer_exemplars_tenant_created"
        " ON customer_exemplars (tenant_id, created_at)"
    )
    op.execute("DROP TRIGGER IF EXISTS exemplar_tombstone ON customer_exemplars")
    op.execute("DROP FUNCTION IF EXISTS record_exemplar_tombstone()")
    op.execute("DROP TABLE IF EXISTS exemplar_tombstones")
    op.execute("DROP TRIGGER IF EXISTS exemplar_change_stamp ON customer_exemplars")
    op.execute("DROP FUNCTION IF EXISTS stamp_exemplar_change()")
    op.execute("DROP INDEX IF EXISTS ix_customer_exemplars_tenant_change")
    op.execute("ALTER TABLE customer_exemplars DROP COLUMN IF EXISTS change_xid")
