"""durable erasure and tenant deletion jobs; the purge selects raw images by when they were stored

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 05:20:00

- ``erasure_jobs``: one row per customer erasure or tenant deletion (ADR 0012). It is written
  before anything is deleted and holds the step reached, so a retried request or the resumer job
  finishes a job that an outage or a restart interrupted. Tenant-scoped under RLS; no foreign key
  to ``tenants`` on purpose: the record of a tenant's deletion outlives the tenant. At most one
  pending job per subject.
- ``ix_sightings_image_received``: the purge selects sightings by ``received_at`` (when the server
  stored the event), not by the edge-claimed ``captured_at``.
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rls = importlib.import_module("appliance.db.rls")
    op.execute(
        """
CREATE TABLE erasure_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    kind varchar(16) NOT NULL CONSTRAINT ck_erasure_jobs_kind CHECK (kind IN ('customer', 'tenant')),
    subject_id uuid NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'pending'
        CONSTRAINT ck_erasure_jobs_status CHECK (status IN ('pending', 'done')),
    step varchar(16) NOT NULL DEFAULT 'objects'
        CONSTRAINT ck_erasure_jobs_step CHECK (step IN ('objects', 'vectors', 'rows', 'done')),
    requested_by varchar(200) NOT NULL,
    requested_role varchar(32) NOT NULL,
    request_id varchar(64),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    report jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
)"""
    )
    op.execute(
        "CREATE INDEX ix_erasure_jobs_tenant_subject"
        " ON erasure_jobs (tenant_id, kind, subject_id, created_at)"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_erasure_jobs_pending ON erasure_jobs (tenant_id, kind, subject_id)"
        " WHERE status = 'pending'"
    )
    rls.enable_rls(("erasure_jobs",))
    op.execute(
        "CREATE INDEX ix_sightings_image_received ON sightings (tenant_id, received_at)"
        " WHERE image_path IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_sightings_image_received")
    op.execute("DROP TABLE IF EXISTS erasure_jobs")
