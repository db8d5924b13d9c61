"""The read of exemplar changes (``CHANGES_SINCE``) on the fast path's generic plans: writes and
deletes of transactions that were in progress when the previous read ran are found once they
commit, and nothing the previous read saw comes again."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine
from appliance.db.types import embedding_bytes
from appliance.vectors.changes import Changes, Snapshot, changes_params
from appliance.vectors.exact import ExactIndex

DIM = 4


def _exemplar(conn: psycopg.Connection, tenant: uuid.UUID, customer: uuid.UUID) -> uuid.UUID:
    exemplar = uuid.uuid4()
    conn.execute(
        "INSERT INTO customer_exemplars (id, tenant_id, customer_id, embedding, quality, created_at)"
        " VALUES (%s, %s, %s, %s, 0.8, now())",
        (exemplar, tenant, customer, embedding_bytes([1.0, 0.0, 0.0, 0.0])),
    )
    return exemplar


def test_in_progress_writes_and_deletes_are_read_after_they_commit(pg_settings: Settings) -> None:
    tenant, customer = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(pg_settings.database_url, autocommit=True) as admin:
        admin.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"chg-{tenant.hex[:8]}"))
        admin.execute(
            "INSERT INTO customers (id, tenant_id, visit_count, exemplar_count) VALUES (%s, %s, 0, 1)",
            (customer, tenant),
        )
        committed = _exemplar(admin, tenant, customer)
        doomed = _exemplar(admin, tenant, customer)

    async def read(db: Database, index: ExactIndex, since: Snapshot) -> Changes:
        statement, params = index.changes_statement(tenant, since)
        async with db.fast_transaction(tenant, [(statement, params)]) as tx:
            rows = tx.opened[0]
        return Changes.from_rows(rows, DIM)

    async def scenario() -> None:
        db = Database(make_async_engine(pg_settings.runtime_database_url, 1))
        index = ExactIndex(db, DIM, 1 << 20)
        try:
            start = Snapshot(1, 1, frozenset())
            everything = await read(db, index, start)
            assert set(everything.ids) == {committed, doomed}
            with psycopg.connect(pg_settings.database_url) as writer:  # a transaction left open
                writer.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))  # tombstones
                added = _exemplar(writer, tenant, customer)
                writer.execute("DELETE FROM customer_exemplars WHERE id = %s", (doomed,))
                xid = int(str(writer.execute("SELECT pg_current_xact_id()").fetchone()[0]))  # type: ignore[index]
                with psycopg.connect(pg_settings.database_url, autocommit=True) as later:
                    later.execute("SELECT pg_current_xact_id()")  # a later commit: ours is below xmax
                during = await read(db, index, everything.snapshot)
                assert xid in during.snapshot.xip  # the in-progress parts of the next read find it
                assert not during  # not committed yet: nothing to read
                writer.commit()
            # More than five reads: past the point where PostgreSQL would pick a plan by itself.
            for _ in range(7):
                after = await read(db, index, during.snapshot)
                assert after.ids == [added] and after.deleted == [doomed]
                assert after.complete
            assert not await read(db, index, after.snapshot)
        finally:
            await index.close()
            await db.dispose()

    asyncio.run(scenario())


def test_changes_params_of_an_empty_snapshot() -> None:
    params = changes_params(uuid.uuid4(), Snapshot(10, 12, frozenset()))
    assert params["xip"] == [] and int(params["xip_low"]) > int(params["xip_high"])  # an empty range
    params = changes_params(uuid.uuid4(), Snapshot(10, 15, frozenset({13, 11})))
    assert (params["xip"], params["xip_low"], params["xip_high"]) == (["11", "13"], "11", "13")
