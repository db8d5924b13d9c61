"""embeddings as float32 bytes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:40:00

``real[]`` → ``bytea`` (big-endian float32, 4 bytes per value) for sightings, customer
exemplars and staff embeddings. The driver parsed and printed every value of a ``real[]`` as
text; ingest writes a 512-D vector per event and reads a customer's exemplars, so that text
round trip was a large share of its time. The upgrade converts in SQL with ``float4send``
(exact); the downgrade converts back in Python batches.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("sightings", "customer_exemplars", "staff_embeddings")
BATCH = 2000

TO_BYTES = """
CREATE FUNCTION pg_temp.float4_bytes(vec real[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(float4send(v), ''::bytea ORDER BY i), ''::bytea)
    FROM unnest(vec) WITH ORDINALITY AS u(v, i)
$$
"""


def upgrade() -> None:
    op.execute(TO_BYTES)
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN embedding TYPE bytea USING pg_temp.float4_bytes(embedding)"
        )
    op.execute("DROP FUNCTION pg_temp.float4_bytes(real[])")


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        op.add_column(table, sa.Column("embedding_real", sa.ARRAY(sa.REAL()), nullable=True))
        rows = sa.table(table, sa.column("id", sa.Uuid()), sa.column("embedding", sa.LargeBinary()))
        target = sa.table(table, sa.column("id", sa.Uuid()), sa.column("embedding_real", sa.ARRAY(sa.REAL())))
        last = None
        while True:
            query = sa.select(rows.c.id, rows.c.embedding).order_by(rows.c.id).limit(BATCH)
            if last is not None:
                query = query.where(rows.c.id > last)
            batch = bind.execute(query).all()
            if not batch:
                break
            bind.execute(
                target.update().where(target.c.id == sa.bindparam("row_id")),
                [
                    {"row_id": row_id, "embedding_real": np.frombuffer(raw, dtype=">f4").tolist()}
                    for row_id, raw in batch
                ],
            )
            last = batch[-1][0]
        op.drop_column(table, "embedding")
        op.alter_column(table, "embedding_real", new_column_name="embedding", nullable=False)
