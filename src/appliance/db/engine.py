"""Engines and the tenant-scoped transaction: the one place the RLS context is set."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` → the psycopg 3 dialect (works for sync and async engines)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def make_sync_engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True)


def make_async_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping: it costs a round trip per transaction (measurable on ingest). After a
    # PostgreSQL restart the request that meets a dead connection fails (503) and SQLAlchemy
    # invalidates the pool, so the next ones reconnect.
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=3600,
    )


SET_CONTEXT_SQL = (
    "SELECT set_config('app.tenant_id', %(tenant_id)s, true),"
    " set_config('app.platform_admin', %(platform_admin)s, true),"
    " set_config('app.login_username', %(login_username)s, true)"
)
SET_CONTEXT = text(SET_CONTEXT_SQL.replace("%(", ":").replace(")s", ""))
BEGIN_WITH_CONTEXT = "BEGIN; " + SET_CONTEXT_SQL


def context_params(
    tenant_id: uuid.UUID | None, platform_admin: bool = False, login_username: str | None = None
) -> dict[str, str]:
    """The values of the RLS context settings (empty = not set)."""
    return {
        "tenant_id": str(tenant_id) if tenant_id else "",
        "platform_admin": "on" if platform_admin else "",
        "login_username": login_username or "",
    }


@dataclass
class FastTransaction:
    conn: psycopg.AsyncConnection[Any]
    opened: list[list[tuple[Any, ...]]]
    """The rows of each opening statement, in order."""


class Database:
    """Hands out transactions with the row-level-security context already set.

    The settings are transaction-local (``set_config(..., true)``), so a pooled
    connection never carries one request's tenant into the next.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)

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
        self, tenant_id: uuid.UUID, opening: Sequence[tuple[str, Mapping[str, Any]]] = ()
    ) -> AsyncIterator[FastTransaction]:
        """The psycopg connection under a pooled SQLAlchemy connection, in a transaction with the
        tenant's RLS context, for the hot ingest path; COMMIT when the block ends, ROLLBACK on an
        exception.

        BEGIN, the context and the ``opening`` statements go to PostgreSQL in one round trip (the
        simple query protocol, with values inlined as literals by psycopg's own client-side
        binding); their rows are in ``FastTransaction.opened``. Each statement of such a batch
        runs with a fresh snapshot, so one that follows a row lock sees what committed while the
        lock was awaited. SQLAlchemy's per-statement cost and the separate round trips showed at
        hundreds of events a second. (psycopg's pipeline mode would batch too, but it busy-polls
        the socket while it waits.)
        """
        async with self.engine.connect() as pooled:
            raw = await pooled.get_raw_connection()
            conn: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
            await conn.set_autocommit(True)  # the transaction is ours: no implicit BEGIN round trip
            try:
                binder = psycopg.AsyncClientCursor(conn)
                batch = [binder.mogrify(BEGIN_WITH_CONTEXT, context_params(tenant_id))]
                batch += [binder.mogrify(statement, params) for statement, params in opening]
                cursor = await conn.execute("; ".join(batch))
                results: list[list[tuple[Any, ...]]] = []
                while True:
                    results.append(await cursor.fetchall() if cursor.description is not None else [])
                    if not cursor.nextset():
                        break
                yield FastTransaction(conn, results[2:])  # after BEGIN and the context
                await conn.execute("COMMIT")
            except BaseException:
                # The original error matters more than a failed ROLLBACK on a broken connection
                # (SQLAlchemy's pool then discards it when it fails to reset).
                with contextlib.suppress(psycopg.Error):
                    if not conn.closed:
                        await conn.execute("ROLLBACK")
                raise
            finally:
                with contextlib.suppress(psycopg.Error):
                    if not conn.closed:
                        await conn.set_autocommit(False)

    async def dispose(self) -> None:
        await self.engine.dispose()
