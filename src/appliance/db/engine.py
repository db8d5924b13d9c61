"""Engines and the tenant-scoped transaction: the one place the RLS context is set."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
    return create_async_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


SET_CONTEXT = text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.platform_admin', :platform_admin, true),"
    " set_config('app.login_username', :login_username, true)"
)


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
            await session.execute(
                SET_CONTEXT,
                {
                    "tenant_id": str(tenant_id) if tenant_id else "",
                    "platform_admin": "on" if platform_admin else "",
                    "login_username": login_username or "",
                },
            )
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
