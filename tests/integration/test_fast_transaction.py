"""Database.fast_transaction (the ingest hot path's raw psycopg transaction) keeps the rules of
every other transaction: the tenant's RLS context, all-or-nothing, a reusable connection after
an error."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from appliance.config import Settings
from appliance.db.engine import NETWORK_BOUNDS, Database, make_async_engine

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
        cursor = await conn.execute(
            "SELECT name FROM pg_prepared_statements WHERE name LIKE 'test_%' ORDER BY name"
        )
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


def test_literals_read_back_as_the_values_they_render(pg_settings: Settings) -> None:
    """Every kind of value the hot path sends, through PREPARE/EXECUTE and back, unchanged:
    quotes, backslashes and unicode in text, any bytes, extreme floats, arrays."""
    from datetime import UTC, datetime, timedelta, timezone

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from appliance.db.prepared import Prepared

    echo = Prepared(
        "test_echo",
        "SELECT %(t)s, %(b)s, %(f)s, %(u)s, %(ts)s, %(us)s, %(bs)s, %(fs)s, %(n)s, %(flag)s",
        {
            "t": "text", "b": "bytea", "f": "float8", "u": "uuid", "ts": "timestamptz",
            "us": "uuid[]", "bs": "bytea[]", "fs": "float8[]", "n": "integer", "flag": "boolean",
        },
    )  # fmt: skip
    text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
    floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
    zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
    moments = st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones
    ).map(lambda d: d.replace(microsecond=d.microsecond))

    with psycopg.connect(pg_settings.database_url, autocommit=True) as conn:
        conn.execute(echo.prepare_sql())

        @settings(
            max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
        )
        @given(
            t=text,
            b=st.binary(max_size=64),
            f=floats,
            u=st.uuids(),
            ts=moments,
            us=st.lists(st.uuids(), max_size=4),
            bs=st.lists(st.binary(max_size=8), max_size=4),
            fs=st.lists(floats, max_size=4),
            n=st.integers(-(2**31), 2**31 - 1),
            flag=st.booleans(),
        )
        def round_trip(**values: object) -> None:
            row = conn.execute(echo.execute_sql(values)).fetchone()
            assert row is not None
            assert list(row) == list(values.values())

        round_trip()


def test_a_dead_pooled_connection_is_replaced_not_reported(pg_settings: Settings) -> None:
    """After a database restart the pool holds dead connections (no pre-ping): the hot path
    notices on its first batch, when nothing has happened yet, and runs it on a new one."""
    (tenant,) = make_tenants(pg_settings, 1)

    async def backend_pid(db: Database) -> int:
        async with db.fast_transaction(tenant, [("SELECT pg_backend_pid()", {})]) as tx:
            pid: int = tx.opened[0][0][0]
        return pid

    async def scenario() -> None:
        db = Database(make_async_engine(pg_settings.runtime_database_url, 1))  # one connection: reused
        try:
            first = await backend_pid(db)
            with psycopg.connect(pg_settings.database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))  # waits for the exit
            second = await backend_pid(db)
            assert second != first
            assert await backend_pid(db) == second  # the new connection went back to the pool
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_an_error_in_the_opening_batch_leaves_the_connection_as_sqlalchemy_expects(
    pg_settings: Settings,
) -> None:
    """The hot path borrows a pooled connection in autocommit mode. Whatever fails in its first
    batch, the connection goes back rolled back and out of autocommit: a later ORM transaction
    on it is still all-or-nothing."""
    from sqlalchemy import text

    (tenant,) = make_tenants(pg_settings, 1)

    async def scenario() -> None:
        db = Database(make_async_engine(pg_settings.runtime_database_url, 1))  # one connection: reused
        try:
            with pytest.raises(psycopg.errors.DivisionByZero):
                async with db.fast_transaction(tenant, [("SELECT 1 / 0", {})]):
                    pass
            with pytest.raises(RuntimeError):
                async with db.transaction(tenant) as session:
                    await session.execute(
                        text(SITE.replace("%(", ":").replace(")s", "")),
                        {"id": uuid.uuid4(), "tenant": tenant, "name": "must vanish"},
                    )
                    raise RuntimeError("roll back")
            async with db.fast_transaction(tenant, [("SELECT count(*) FROM sites", {})]) as tx:
                assert tx.opened == [[(0,)]]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_pooled_connections_carry_the_network_bounds(pg_settings: Settings) -> None:
    async def parameters() -> dict[str, str]:
        db = Database(make_async_engine(pg_settings.runtime_database_url, 1))
        try:
            async with db.engine.connect() as pooled:
                raw = await pooled.get_raw_connection()
                conn: psycopg.AsyncConnection[object] = raw.driver_connection  # type: ignore[assignment]
                return {option.keyword.decode(): (option.val or b"").decode() for option in conn.pgconn.info}
        finally:
            await db.dispose()

    used = asyncio.run(parameters())
    assert {key: used[key] for key in NETWORK_BOUNDS} == {key: str(v) for key, v in NETWORK_BOUNDS.items()}
