"""The change cursor: what changed in a tenant's exemplars since a PostgreSQL snapshot.

Every exemplar row carries the id of the transaction that wrote it (``change_xid``) and every
delete leaves a tombstone with the deleting transaction's id (migration 0007). A reader keeps
the snapshot its last read ran under; the next read takes the rows whose transaction that
snapshot could not see — ids at or past its ``xmax``, or in progress when it was taken — so a
transaction that committed late is never skipped, whatever order the commits came in.
Read and snapshot come from one statement, so they agree. ADR 0008 has the reasoning.
"""

from __future__ import annotations

import asyncio
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
from appliance.vectors.matrix import ExemplarMatrix

Array = np.ndarray[Any, Any]


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
        """Taken after ``other`` (so it sees all ``other`` saw and more). Commits only add to what
        a snapshot sees: ``xmax`` never decreases, and at equal ``xmax`` fewer are in progress."""
        return self.xmax > other.xmax or (self.xmax == other.xmax and len(self.xip) < len(other.xip))


def oldest(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The snapshot taken first (it saw least)."""
    found: Snapshot | None = None
    for snapshot in snapshots:
        if found is None or found.later_than(snapshot):
            found = snapshot
    if found is None:
        raise ValueError("no snapshot")
    return found


CHANGES_LIMIT = 5000
"""Rows per part of a read of changes; a read that reaches it is incomplete, and the tenant is
loaded afresh instead (a process that has not read a busy tenant for a long while)."""


_XID = "x.change_xid::text::bigint AS xid"


def _part(number: int, table: str, columns: str, in_progress: bool, limit: int = CHANGES_LIMIT) -> str:
    # The ranges change no answer: a generic plan knows no values, and a range of two unknown
    # bounds is estimated small enough for the index whatever the table's size.
    if in_progress:
        # One index probe per transaction in progress (their lowest to highest id: the range).
        # Written as ``change_xid = ANY(…)`` with ORDER BY, the generic plan walked the tenant's
        # rows. Which rows a read past the limit gets does not matter (the tenant is reloaded).
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


_EXEMPLAR = "x.id, x.customer_id, x.embedding"
_TOMBSTONE = "x.exemplar_id, x.customer_id, NULL::bytea"

_CHANGES_SINCE = """
SELECT s.snap, s.tenant_exists, c.part, c.id, c.customer_id, c.embedding, c.xid
FROM (SELECT pg_current_snapshot()::text AS snap,
             EXISTS (SELECT 1 FROM tenants t WHERE t.id = %(tenant_id)s) AS tenant_exists) s
LEFT JOIN LATERAL (
    {parts}
) c ON true
"""
_TYPES = {
    "tenant_id": "uuid",
    "xmax": "xid8",
    "xid_max": "xid8",
    "xip": "xid8[]",
    "xip_low": "xid8",
    "xip_high": "xid8",
}
XID_MAX = str(2**63 - 1)
"""Above every transaction id PostgreSQL hands out (``xid8`` is a 64-bit epoch and xid)."""


def _changes_sql(limit: int) -> str:
    parts = [
        _part(1, "customer_exemplars", _EXEMPLAR, False, limit),
        _part(2, "customer_exemplars", _EXEMPLAR, True, limit),
        _part(3, "exemplar_tombstones", _TOMBSTONE, False, limit),
        _part(4, "exemplar_tombstones", _TOMBSTONE, True, limit),
    ]
    return _CHANGES_SINCE.format(parts="\n    UNION ALL ".join(parts))


CHANGES_SINCE = Prepared("vector_changes_since", _changes_sql(CHANGES_LIMIT), _TYPES)
"""The tenant's exemplar writes and deletes a snapshot did not see — transaction ids at or past its
``xmax``, or in progress when it was taken — and the snapshot this read ran under (one row with
NULLs when nothing changed). Run it in the tenant's RLS context. Each part reads the
``(tenant_id, change_xid)`` index with a limit, which the generic plan keeps to whatever the
values (``Database.fast_transaction`` asks for generic plans: a custom plan of this statement
cost more to make than to run)."""


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


_ALL_CHANGES_SINCE = Prepared("vector_all_changes_since", _changes_sql(2**62), _TYPES)


def all_changes_sql(tenant_id: uuid.UUID, since: Snapshot) -> str:
    """``CHANGES_SINCE`` without its limit, as plain SQL (the Milvus sync: it must see every change)."""
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
        return Changes(
            self.snapshot,
            self.tenant_exists,
            ids=[self.ids[i] for i in kept],
            customers=[self.customers[i] for i in kept],
            vectors=self.vectors[kept] if kept else self.vectors[:0],
            xids=[self.xids[i] for i in kept],
            deleted=[self.deleted[i] for i in gone],
            deleted_xids=[self.deleted_xids[i] for i in gone],
            complete=self.complete,
        )

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]], dim: int) -> Changes:
        """From the rows of ``CHANGES_SINCE``. A row whose embedding has another dimension is
        left out (it cannot be searched with this embedder; ``appliance reindex`` reports it)."""
        snap, exists = rows[0][0], rows[0][1]
        changes = cls(Snapshot.parse(snap), tenant_exists=bool(exists))
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
    """A read-only REPEATABLE READ transaction in the tenant's RLS context: every statement in it
    sees one snapshot (``pg_current_snapshot()`` names it)."""
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


LOAD_GROUP = 1024
LOAD_GROUPS = """
SELECT string_agg(uuid_send(g.id), ''), string_agg(uuid_send(g.customer_id), ''), string_agg(g.embedding, '')
FROM (SELECT x.id, x.customer_id, x.embedding, (row_number() OVER ()) / %(group)s AS part
      FROM customer_exemplars x WHERE x.tenant_id = %(tenant_id)s AND length(x.embedding) = %(width)s) g
GROUP BY g.part
"""
"""A tenant's exemplars as a few rows of concatenated bytes (ids, customers, embeddings): the rows
come as binary ``bytea`` values that numpy reads, instead of a Python object per exemplar."""


@dataclass
class Loaded:
    snapshot: Snapshot
    """What the load saw."""
    tenant_exists: bool
    matrix: ExemplarMatrix
    skipped: int
    """Rows whose embedding has another dimension (not searchable with this embedder)."""


async def load_matrix(db: Database, tenant_id: uuid.UUID, dim: int) -> Loaded:
    """Every exemplar of the tenant as a matrix, with the snapshot it was read under."""
    params = {"tenant_id": tenant_id, "width": 4 * dim, "group": LOAD_GROUP}
    async with snapshot_transaction(db, tenant_id) as conn:
        cursor = await conn.execute(
            "SELECT pg_current_snapshot()::text, EXISTS (SELECT 1 FROM tenants t WHERE t.id = %(tenant_id)s),"
            " c.usable, c.everything"
            " FROM (SELECT count(*) FILTER (WHERE length(x.embedding) = %(width)s) AS usable,"
            " count(*) AS everything FROM customer_exemplars x WHERE x.tenant_id = %(tenant_id)s) c",
            params,
        )
        snap, exists, total, everything = (await cursor.fetchall())[0]
        loading = _Loading(int(total), dim)
        # Streamed (single-row mode): PostgreSQL builds the next group while this one is decoded.
        async for group in conn.cursor(binary=True).stream(LOAD_GROUPS, params):
            await asyncio.to_thread(loading.add, *group)
    matrix = await asyncio.to_thread(loading.matrix)
    return Loaded(Snapshot.parse(snap), bool(exists), matrix, int(everything) - len(matrix))


def _uuid_rows(raw: bytes, n: int) -> Array:
    return np.frombuffer(raw, dtype=np.uint8)[: 16 * n].reshape(n, 16)


class _Loading:
    """A matrix filled group by group (``LOAD_GROUPS``)."""

    def __init__(self, total: int, dim: int) -> None:
        self.dim, self.filled = dim, 0
        self.ids = np.empty((total, 16), dtype=np.uint8)
        self.customers = np.empty((total, 16), dtype=np.uint8)
        self.vectors = np.empty((total, dim), dtype=np.float32)

    def add(self, id_bytes: bytes, customer_bytes: bytes, embeddings: bytes) -> None:
        n = min(len(id_bytes) // 16, len(self.ids) - self.filled)  # the count saw the same snapshot
        end = self.filled + n
        self.ids[self.filled : end] = _uuid_rows(id_bytes, n)
        self.customers[self.filled : end] = _uuid_rows(customer_bytes, n)
        self.vectors[self.filled : end] = decode(embeddings[: 4 * self.dim * n], self.dim)
        self.filled = end

    def matrix(self) -> ExemplarMatrix:
        matrix = ExemplarMatrix(self.dim)
        matrix.load(self.ids[: self.filled], self.customers[: self.filled], self.vectors[: self.filled])
        return matrix
