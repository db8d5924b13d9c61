"""The change cursor (ADR 0008): a tenant's exemplar writes and deletes that a snapshot did not
see, read together with the read's own snapshot; and a tenant's cold load."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from appliance.db.engine import SET_CONTEXT_SQL, Database, context_params
from appliance.db.prepared import Prepared
from appliance.db.types import EMBEDDING_DTYPE
from appliance.vectors.matrix import Array, ExemplarMatrix


@dataclass(frozen=True)
class Snapshot:
    """A ``pg_snapshot``: what a statement could see."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(str(x) for x in sorted(self.xip))}"

    def sees(self, xid: int) -> bool:
        """Whether a transaction's writes were visible (committed) in this snapshot."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)

    def later_than(self, other: Snapshot) -> bool:
        """Taken after ``other`` (it sees all ``other`` saw and more)."""
        return _age(self) > _age(other)


def _age(snapshot: Snapshot) -> tuple[int, int]:
    # Commits only add to what a snapshot sees: xmax never decreases, and at equal xmax fewer
    # transactions are in progress.
    return snapshot.xmax, -len(snapshot.xip)


def oldest(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The snapshot taken first (it saw least)."""
    return min(snapshots, key=_age)


CHANGES_LIMIT = 5000
"""Rows per part of a read of changes; a read that reaches it is incomplete, and the tenant is
loaded afresh instead."""
XID_MAX = str(2**63 - 1)  # above every transaction id PostgreSQL hands out (xid8)
_XID = "x.change_xid::text::bigint AS xid"
_EXEMPLAR = "x.id, x.customer_id, x.embedding"
_TOMBSTONE = "x.exemplar_id, x.customer_id, NULL::bytea"


def _part(number: int, table: str, columns: str, in_progress: bool, limit: int) -> str:
    # The BETWEEN ranges change no answer: with them the generic plan takes the index whatever
    # the table's size (ADR 0013).
    if in_progress:  # one index probe per transaction in progress
        probe = (
            f"SELECT x.* FROM {table} x WHERE x.tenant_id = %(tenant_id)s AND x.change_xid = p.xid"
            f" AND x.change_xid BETWEEN %(xip_low)s AND %(xip_high)s LIMIT {limit}"
        )
        source = f"unnest(%(xip)s) AS p(xid) CROSS JOIN LATERAL ({probe}) x"
        return f"(SELECT {number} AS part, {columns}, {_XID} FROM {source} LIMIT {limit})"
    return (
        f"(SELECT {number} AS part, {columns}, {_XID} FROM {table} x WHERE x.tenant_id = %(tenant_id)s"
        f" AND x.change_xid BETWEEN %(xmax)s AND %(xid_max)s ORDER BY x.change_xid LIMIT {limit})"
    )


_CHANGES_SINCE = """
SELECT s.snap, s.tenant_exists, c.part, c.id, c.customer_id, c.embedding, c.xid
FROM (SELECT pg_current_snapshot()::text AS snap,
             EXISTS (SELECT 1 FROM tenants t WHERE t.id = %(tenant_id)s) AS tenant_exists) s
LEFT JOIN LATERAL (
    {parts}
) c ON true
"""
_XID8 = ("xmax", "xid_max", "xip_low", "xip_high")


def _changes_since(name: str, limit: int) -> Prepared:
    parts = [
        _part(1, "customer_exemplars", _EXEMPLAR, False, limit),
        _part(2, "customer_exemplars", _EXEMPLAR, True, limit),
        _part(3, "exemplar_tombstones", _TOMBSTONE, False, limit),
        _part(4, "exemplar_tombstones", _TOMBSTONE, True, limit),
    ]
    sql = _CHANGES_SINCE.format(parts="\n    UNION ALL ".join(parts))
    return Prepared(name, sql, {"tenant_id": "uuid", "xip": "xid8[]"} | dict.fromkeys(_XID8, "xid8"))


CHANGES_SINCE = _changes_since("vector_changes_since", CHANGES_LIMIT)
"""The tenant's exemplar writes and deletes a snapshot did not see, and the snapshot this read ran
under (one row with NULLs when nothing changed); in the tenant's RLS context, on the generic plan
``Database.fast_transaction`` asks for."""
_ALL_CHANGES_SINCE = _changes_since("vector_all_changes_since", 2**62)


def changes_params(tenant_id: uuid.UUID, since: Snapshot) -> dict[str, Any]:
    xip = sorted(since.xip)
    return {
        "tenant_id": tenant_id,
        "xmax": str(since.xmax),
        "xid_max": XID_MAX,
        "xip": [str(x) for x in xip],
        "xip_low": str(xip[0]) if xip else "1",
        "xip_high": str(xip[-1]) if xip else "0",  # an empty range: nothing was in progress
    }


def all_changes_sql(tenant_id: uuid.UUID, since: Snapshot) -> str:
    """``CHANGES_SINCE`` without its limit, as plain SQL (the Milvus sync must see every change)."""
    return _ALL_CHANGES_SINCE.inline_sql(changes_params(tenant_id, since))


@dataclass
class Changes:
    """What a read of ``CHANGES_SINCE`` found."""

    snapshot: Snapshot
    tenant_exists: bool = True
    ids: list[uuid.UUID] = field(default_factory=list)
    customers: list[uuid.UUID] = field(default_factory=list)
    vectors: Array = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    xids: list[int] = field(default_factory=list)
    deleted: list[uuid.UUID] = field(default_factory=list)
    deleted_xids: list[int] = field(default_factory=list)
    complete: bool = True
    """False when a part of the read reached ``CHANGES_LIMIT``: load the tenant afresh."""

    def __bool__(self) -> bool:
        return bool(self.ids or self.deleted)

    def past(self, snapshot: Snapshot) -> Changes:
        """The changes ``snapshot`` did not see."""
        kept = [i for i, xid in enumerate(self.xids) if not snapshot.sees(xid)]
        gone = [i for i, xid in enumerate(self.deleted_xids) if not snapshot.sees(xid)]
        return dataclasses.replace(
            self,
            ids=[self.ids[i] for i in kept],
            customers=[self.customers[i] for i in kept],
            vectors=self.vectors[kept] if kept else self.vectors[:0],
            xids=[self.xids[i] for i in kept],
            deleted=[self.deleted[i] for i in gone],
            deleted_xids=[self.deleted_xids[i] for i in gone],
        )

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]], dim: int) -> Changes:
        """From the rows of ``CHANGES_SINCE``, leaving out embeddings of another dimension (not
        searchable with this embedder; ``appliance reindex`` reports them)."""
        changes = cls(Snapshot.parse(rows[0][0]), tenant_exists=bool(rows[0][1]))
        blobs: list[bytes] = []
        parts: dict[int, int] = {}
        for _, _, part, exemplar_id, customer_id, embedding, xid in rows:
            if exemplar_id is None:
                continue
            parts[part] = parts.get(part, 0) + 1
            if embedding is None:
                changes.deleted.append(exemplar_id)
                changes.deleted_xids.append(int(xid))
            elif len(embedding) == 4 * dim:
                changes.ids.append(exemplar_id)
                changes.customers.append(customer_id)
                changes.xids.append(int(xid))
                blobs.append(bytes(embedding))
        changes.vectors = decode(b"".join(blobs), dim)
        changes.complete = max(parts.values(), default=0) < CHANGES_LIMIT
        return changes


def decode(raw: bytes, dim: int) -> Array:
    """Concatenated stored embeddings as unit float32 rows (zero rows stay zero: never a match)."""
    vectors = np.frombuffer(raw, dtype=EMBEDDING_DTYPE).reshape(-1, dim).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    good = np.isfinite(norms) & (norms > 0)
    np.divide(vectors, norms, out=vectors, where=good)
    vectors[~good[:, 0]] = 0.0
    return vectors


@asynccontextmanager
async def snapshot_transaction(
    db: Database, tenant_id: uuid.UUID
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A read-only REPEATABLE READ transaction in the tenant's RLS context: one snapshot."""
    async with db.engine.connect() as pooled:
        raw = await pooled.get_raw_connection()
        conn: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
        await conn.set_autocommit(True)
        try:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await conn.execute(SET_CONTEXT_SQL, context_params(tenant_id))
            yield conn
            await conn.execute("COMMIT")
        except BaseException:
            if not conn.closed:
                await conn.execute("ROLLBACK")
            raise
        finally:
            if not conn.closed:
                await conn.set_autocommit(False)


LOAD_COUNTS = """
SELECT pg_current_snapshot()::text, EXISTS (SELECT 1 FROM tenants t WHERE t.id = %(tenant_id)s),
       count(*) FILTER (WHERE length(x.embedding) = %(width)s), count(*)
FROM customer_exemplars x WHERE x.tenant_id = %(tenant_id)s
"""
LOAD_GROUPS = """
SELECT string_agg(uuid_send(g.id), ''), string_agg(uuid_send(g.customer_id), ''), string_agg(g.embedding, '')
FROM (SELECT x.id, x.customer_id, x.embedding, (row_number() OVER ()) / %(group)s AS part
      FROM customer_exemplars x WHERE x.tenant_id = %(tenant_id)s AND length(x.embedding) = %(width)s) g
GROUP BY g.part
"""
"""A tenant's exemplars as a few rows of concatenated bytes (ids, customers, embeddings) that
numpy reads, instead of a Python object per exemplar (ADR 0008)."""


@dataclass
class Loaded:
    snapshot: Snapshot
    tenant_exists: bool
    matrix: ExemplarMatrix
    skipped: int
    """Rows whose embedding has another dimension (not searchable with this embedder)."""


async def load_matrix(db: Database, tenant_id: uuid.UUID, dim: int) -> Loaded:
    """Every exemplar of the tenant as a matrix, with the snapshot it was read under."""
    params = {"tenant_id": tenant_id, "width": 4 * dim, "group": 1024}
    async with snapshot_transaction(db, tenant_id) as conn:
        cursor = await conn.execute(LOAD_COUNTS, params)
        snap, exists, usable, everything = (await cursor.fetchall())[0]
        matrix = ExemplarMatrix(dim, capacity=usable)
        # Streamed (single-row mode): PostgreSQL builds the next group while this one is decoded.
        async for ids, customers, embeddings in conn.cursor(binary=True).stream(LOAD_GROUPS, params):
            await asyncio.to_thread(_add, matrix, ids, customers, embeddings)
    return Loaded(Snapshot.parse(snap), bool(exists), matrix, everything - len(matrix))


def _add(matrix: ExemplarMatrix, ids: bytes, customers: bytes, embeddings: bytes) -> None:
    matrix.load(_uuid_rows(ids), _uuid_rows(customers), decode(embeddings, matrix.dim))


def _uuid_rows(raw: bytes) -> Array:
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 16)
