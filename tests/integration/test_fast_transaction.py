"""Database.fast_transaction (the ingest hot path's raw psycopg transaction) keeps the rules of
every other transaction: the tenant's RLS context, all-or-nothing, a reusable connection after
an error."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine

SITE = "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%(id)s, %(tenant)s, %(name)s, 'UTC')"


def make_tenants(settings: Settings, count: int) -> list[uuid.UUID]:
    tenants = [uuid.uuid4() for _ in range(count)]
    with psycopg.connect(settings.database_url) as conn:
        for tenant in tenants:
            conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"fast-{tenant.hex[:8]}"))
    return tenants


def test_context_isolation_atomicity_and_recovery(pg_settings: Settings) -> None:
    a, b = make_tenants(pg_settings, 2)
    site_a, site_b = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        db = Database(make_async_engine(pg_settings.runtime_database_url, 1))  # one connection: reused
        try:
            async with db.fast_transaction(b) as tx:
                await tx.conn.execute(SITE, {"id": site_b, "tenant": b, "name": "b"})
            opening = [
                ("SELECT current_setting('app.tenant_id')", {}),
                ("SELECT count(*) FROM sites WHERE id = %(id)s", {"id": site_b}),
            ]
            async with db.fast_transaction(a, opening) as tx:
                assert tx.opened[0] == [(str(a),)]
                assert tx.opened[1] == [(0,)]  # tenant b's site is invisible under RLS
                await tx.conn.execute(SITE, {"id": site_a, "tenant": a, "name": "a"})
            # An exception in the block rolls everything in it back.
            with pytest.raises(RuntimeError):
                async with db.fast_transaction(a) as tx:
                    await tx.conn.execute(SITE, {"id": uuid.uuid4(), "tenant": a, "name": "gone"})
                    raise RuntimeError("stop")
            # So does an SQL error; the pooled connection is usable afterwards.
            with pytest.raises(psycopg.errors.UniqueViolation):
                async with db.fast_transaction(a) as tx:
                    await tx.conn.execute(SITE, {"id": uuid.uuid4(), "tenant": a, "name": "also gone"})
                    await tx.conn.execute(SITE, {"id": site_a, "tenant": a, "name": "dup"})
            # Writing another tenant's row is refused by RLS (WITH CHECK).
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                async with db.fast_transaction(a) as tx:
                    await tx.conn.execute(SITE, {"id": uuid.uuid4(), "tenant": b, "name": "sneaky"})
            async with db.fast_transaction(a, [("SELECT name FROM sites ORDER BY name", {})]) as tx:
                assert tx.opened[0] == [("a",)]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_prepared_statements_are_made_once_per_connection_and_survive_errors(pg_settings: Settings) -> None:
    """The hot path's statements are PREPAREd once per pooled connection; a ROLLBACK keeps them,
    and a connection whose statements were dropped behind our back (DEALLOCATE ALL) prepares
    them again instead of failing."""
    from appliance.db.prepared import Prepared

    (tenant,) = make_tenants(pg_settings, 1)
    count_sites = Prepared(
        "test_count_sites", "SELECT count(*) FROM sites WHERE name = %(name)s", {"name": "text"}
    )

    async def prepared_names(conn: psycopg.AsyncConnection[object]) -> list[str]:
        cursor = await conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
        return [row[0] for row in await cursor.fetchall()]

    async def scenario() -> None:
        db = Database(make_async_engine(pg_settings.runtime_database_url, 1))  # one connection: reused
        try:
            async with db.fast_transaction(tenant, [(count_sites, {"name": "x"})]) as tx:
                assert tx.opened == [[(0,)]]
                assert await prepared_names(tx.conn) == ["test_count_sites"]
                await tx.conn.execute(SITE, {"id": uuid.uuid4(), "tenant": tenant, "name": "x"})
            with pytest.raises(RuntimeError):
                async with db.fast_transaction(tenant, [(count_sites, {"name": "x"})]) as tx:
                    raise RuntimeError("rolled back")
            async with db.fast_transaction(tenant, [(count_sites, {"name": "x"})]) as tx:
                assert tx.opened == [[(1,)]]
                rows = await tx.commit_with(count_sites, {"name": "it's; quoted"})  # a literal, safely
                assert rows == [(0,)] and tx.committed
                await tx.conn.execute("DEALLOCATE ALL")
            async with db.fast_transaction(tenant, [(count_sites, {"name": "x"})]) as tx:
                assert tx.opened == [[(1,)]]
                assert await prepared_names(tx.conn) == ["test_count_sites"]
        finally:
            await db.dispose()

    asyncio.run(scenario())
