"""Engines and the tenant-scoped transaction: the one place the RLS context is set."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from appliance.db.prepared import Prepared


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` → the psycopg 3 dialect (works for sync and async engines)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


NETWORK_BOUNDS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
"""libpq's TCP options: a PostgreSQL host that vanishes without closing its connections (a
pulled cable, a crashed VM) is noticed within about a minute, where the kernel's defaults wait
hours; a request on such a connection then fails (503) instead of waiting for ever. Ignored on
a Unix socket."""


def make_sync_engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True, connect_args=dict(NETWORK_BOUNDS))


def make_async_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    # No pre-ping: it costs a round trip per transaction (measurable on ingest). After a
    # PostgreSQL restart ingest replaces a dead connection by itself (Database._begin); another
    # request that meets one fails (503) and SQLAlchemy invalidates the pool.
    # No psycopg auto-prepare: after any ROLLBACK it sends DEALLOCATE ALL, which would also
    # drop the hot path's own prepared statements (prepared.py).
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=3600,
        connect_args={"prepare_threshold": None, **NETWORK_BOUNDS},
    )


SET_CONTEXT_SQL = (
    "SELECT set_config('app.tenant_id', %(tenant_id)s, true),"
    " set_config('app.platform_admin', %(platform_admin)s, true),"
    " set_config('app.login_username', %(login_username)s, true)"
)
SET_CONTEXT = text(SET_CONTEXT_SQL.replace("%(", ":").replace(")s", ""))
LOCK_WAIT_LIMIT = "10s"
IDLE_TRANSACTION_LIMIT = "30s"
CONTEXT = Prepared(
    "app_context_generic",
    SET_CONTEXT_SQL + ", set_config('plan_cache_mode', 'force_generic_plan', true)"
    f", set_config('lock_timeout', '{LOCK_WAIT_LIMIT}', true)"
    f", set_config('idle_in_transaction_session_timeout', '{IDLE_TRANSACTION_LIMIT}', true)",
    {"tenant_id": "text", "platform_admin": "text", "login_username": "text"},
)
"""The fast path's context. Its prepared statements run on generic plans, made once per
connection: the default (``auto``) re-planned the read of exemplar changes on every event, and
planning it cost more than running it; every other hot statement was on its generic plan
already (ADR 0013).

It also bounds the transaction's waits. A lock not granted within ``LOCK_WAIT_LIMIT`` fails
the event with a 503 (the edge retries) instead of queueing every later one behind it; and
should this process lose a connection while PostgreSQL keeps its session (a network fault that
reaches one side only), PostgreSQL ends that session after ``IDLE_TRANSACTION_LIMIT`` idle in
its transaction, which frees the locks it held: the tenant's new-customer lock above all."""


def context_params(
    tenant_id: uuid.UUID | None, platform_admin: bool = False, login_username: str | None = None
) -> dict[str, str]:
    """The values of the RLS context settings (empty = not set)."""
    return {
        "tenant_id": str(tenant_id) if tenant_id else "",
        "platform_admin": "on" if platform_admin else "",
        "login_username": login_username or "",
    }


Statement = Prepared | str
"""A prepared statement (the hot path), or plain SQL (planned each time; tests, rare paths)."""


@dataclass
class FastTransaction:
    conn: psycopg.AsyncConnection[Any]
    opened: list[list[tuple[Any, ...]]]
    """The rows of each opening statement, in order."""
    database: Database
    committed: bool = False

    async def execute(self, statement: Statement, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """One statement in this transaction; its rows."""
        results = await self.database.run_batch(self.conn, [(statement, params)])
        return results[0]

    async def commit_with(self, statement: Statement, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The transaction's last statement and its COMMIT in one round trip; the statement's rows.

        An error in the statement (a unique violation, say) skips the COMMIT: the block's
        exception handling rolls back."""
        results = await self.database.run_batch(self.conn, [(statement, params)], suffix="COMMIT")
        self.committed = True
        return results[0]


def _sql(conn: psycopg.AsyncConnection[Any], statement: Statement, params: Mapping[str, Any]) -> str:
    """One statement of a batch as text: EXECUTE for a prepared one; plain SQL with its values
    bound by psycopg (as is when it has none: BEGIN, on every event)."""
    if isinstance(statement, Prepared):
        return statement.execute_sql(params)
    return psycopg.AsyncClientCursor(conn).mogrify(statement, params) if params else statement


async def _rollback(conn: psycopg.AsyncConnection[Any]) -> None:
    """End a failed transaction; the original error matters more than a failed ROLLBACK on a
    broken connection (SQLAlchemy's pool then discards it when it fails to reset)."""
    with contextlib.suppress(psycopg.Error):
        if not conn.closed:
            await conn.execute("ROLLBACK")


async def _leave_autocommit(conn: psycopg.AsyncConnection[Any]) -> None:
    """Back to the mode SQLAlchemy expects before the connection returns to the pool: with
    autocommit left on, its sessions would commit statement by statement."""
    with contextlib.suppress(psycopg.Error):
        if not conn.closed:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                await conn.execute("ROLLBACK")
            await conn.set_autocommit(False)


class Database:
    """Hands out transactions with the row-level-security context already set.

    The settings are transaction-local (``set_config(..., true)``), so a pooled
    connection never carries one request's tenant into the next.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        # Which prepared statements each pooled connection holds (a new connection: none).
        self._prepared: WeakKeyDictionary[psycopg.AsyncConnection[Any], set[str]] = WeakKeyDictionary()

    @asynccontextmanager
    async def transaction(
        self,
        tenant_id: uuid.UUID | None,
        *,
        platform_admin: bool = False,
        login_username: str | None = None,
    ) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(SET_CONTEXT, context_params(tenant_id, platform_admin, login_username))
            yield session

    @asynccontextmanager
    async def fast_transaction(
        self, tenant_id: uuid.UUID, opening: Sequence[tuple[Statement, Mapping[str, Any]]] = ()
    ) -> AsyncIterator[FastTransaction]:
        """The psycopg connection under a pooled SQLAlchemy connection, in a transaction with the
        tenant's RLS context, for the hot ingest path; COMMIT when the block ends (unless
        ``commit_with`` did), ROLLBACK on an exception.

        BEGIN, the context and the ``opening`` statements go to PostgreSQL in one round trip
        (the simple query protocol, with values inlined as literals); their rows are in
        ``FastTransaction.opened``. Each statement of such a batch runs with a fresh snapshot,
        so one that follows a row lock sees what committed while the lock was awaited.
        ``Prepared`` statements run as EXECUTE of a plan made once per connection, their values
        rendered by ``prepared.literal``. SQLAlchemy's per-statement cost and the separate round
        trips showed at hundreds of events a second. (psycopg's pipeline mode would batch too,
        but it busy-polls the socket while it waits.)
        """
        async with contextlib.AsyncExitStack() as stack:
            conn, results = await self._begin(stack, tenant_id, opening)
            try:
                tx = FastTransaction(conn, results[2:], self)  # after BEGIN and the context
                yield tx
                if not tx.committed:
                    await conn.execute("COMMIT")
            except BaseException:
                await _rollback(conn)
                raise

    async def _begin(
        self,
        stack: contextlib.AsyncExitStack,
        tenant_id: uuid.UUID,
        opening: Sequence[tuple[Statement, Mapping[str, Any]]],
    ) -> tuple[psycopg.AsyncConnection[Any], list[list[tuple[Any, ...]]]]:
        """A pooled connection in autocommit mode (the transaction is ours: no implicit BEGIN
        round trip) with the opening batch run; its results.

        A pooled connection can be dead without the pool knowing (no pre-ping, see
        ``make_async_engine``): after a database restart, say. Nothing has happened in the
        transaction yet, so that one is discarded and the batch runs once more on a new one."""
        batch: list[tuple[Statement, Mapping[str, Any]]] = [
            ("BEGIN", {}),
            (CONTEXT, context_params(tenant_id)),
            *opening,
        ]
        for attempt in (1, 2):
            pooled = await stack.enter_async_context(self.engine.connect())
            raw = await pooled.get_raw_connection()
            conn: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            stack.push_async_callback(_leave_autocommit, conn)
            await conn.set_autocommit(True)
            try:
                try:
                    return conn, await self.run_batch(conn, batch)
                except psycopg.errors.InvalidSqlStatementName:
                    # Someone ran DEALLOCATE/DISCARD ALL on this connection: prepare again.
                    await conn.execute("ROLLBACK")
                    self._prepared.pop(conn, None)
                    return conn, await self.run_batch(conn, batch)
            except psycopg.OperationalError:
                if attempt == 2 or not conn.broken:
                    await _rollback(conn)
                    raise
                await pooled.invalidate()
            except BaseException:  # an SQL error in the opening batch, a cancelled request …
                await _rollback(conn)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def run_batch(
        self,
        conn: psycopg.AsyncConnection[Any],
        batch: Sequence[tuple[Statement, Mapping[str, Any]]],
        suffix: str | None = None,
    ) -> list[list[tuple[Any, ...]]]:
        """Run ``batch`` (then ``suffix``, rows not returned) in one round trip; each
        statement's rows. Prepared statements this connection lacks are prepared first."""
        prepared = self._prepared.setdefault(conn, set())
        for statement, _ in batch:
            if isinstance(statement, Prepared) and statement.name not in prepared:
                # Its own round trip, once per connection; inside an open transaction too (a
                # PREPARE is not undone by a ROLLBACK, and fails only on a bug in the SQL).
                await conn.execute(statement.prepare_sql())
                prepared.add(statement.name)
        sql = [_sql(conn, statement, params) for statement, params in batch]
        if suffix:
            sql.append(suffix)
        cursor = await conn.execute("; ".join(sql))
        results: list[list[tuple[Any, ...]]] = []
        for _ in batch:
            results.append(await cursor.fetchall() if cursor.description is not None else [])
            if not cursor.nextset():
                break
        return results

    async def dispose(self) -> None:
        await self.engine.dispose()
