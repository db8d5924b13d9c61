"""GET /v1/customers?limit=50 latency at 1,000,000 customers across 100 tenants, under RLS.

Builds its own database, bulk-loads the customers with COPY on the owner connection, then drives
``appliance serve`` (uvicorn subprocess) as tenant_admins of random tenants: the first page and a
deep-ish offset page. Prints p50/p95/p99 and the planner's view of the two statements the
endpoint runs (EXPLAIN ANALYZE as the runtime role, i.e. with RLS applied).

    python bench/bench_list_customers.py            # 1,000,000 rows, 100 tenants
    python bench/bench_list_customers.py --quick    # 100,000 rows, 20 tenants
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from sqlalchemy import event

from _common import bench_database, main_guard, print_latency, serve
from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.auth.tokens import TokenIssuer
from appliance.domain.customers.services import CustomerService

TARGET_P95_MS = 20.0
GENDERS = ("female", "male", "\\N")
COPY_COLUMNS = "tenant_id, display_name, gender, age, first_seen, last_seen, visit_count, created_at"


def load(settings: Settings, tenants: int, customers: int) -> list[uuid.UUID]:
    """Tenants by INSERT, customers by COPY (text rows streamed in chunks), then VACUUM ANALYZE.

    Customers of all tenants interleave in time, as they do in a real installation: one tenant's
    rows are spread over the whole table. Ids and updated_at come from the column defaults.
    """
    tenant_ids = [uuid.uuid4() for _ in range(tenants)]
    names = [str(t) for t in tenant_ids]
    epoch = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    gmtime, strftime = time.gmtime, time.strftime
    started = time.perf_counter()
    # The owner URL is a superuser here, which bypasses RLS for the load (FORCE or not).
    with psycopg.connect(settings.database_url) as conn:
        # Plain (non-constraint) indexes are rebuilt after the load: one sort beats 1 M inserts each.
        plain = conn.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = 'customers'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ).fetchall()
        for name, _ in plain:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO tenants (id, name) VALUES (%s, %s)",
                [(t, f"bench-tenant-{i:03d}") for i, t in enumerate(tenant_ids)],
            )
            with cur.copy(f"COPY customers ({COPY_COLUMNS}) FROM STDIN") as copy:
                chunk: list[str] = []
                for n in range(customers):
                    created = epoch + n * 7
                    stamp = strftime("%Y-%m-%d %H:%M:%S+00", gmtime(created))
                    seen = strftime("%Y-%m-%d %H:%M:%S+00", gmtime(created + 86_400 * (n % 300)))
                    chunk.append(
                        f"{names[n % tenants]}\tcustomer {n}\t{GENDERS[n % 3]}\t{16 + n % 64}\t"
                        f"{stamp}\t{seen}\t{1 + n % 39}\t{stamp}\n"
                    )
                    if len(chunk) == 50_000:
                        copy.write("".join(chunk))
                        chunk.clear()
                if chunk:
                    copy.write("".join(chunk))
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in plain:
            conn.execute(definition)
        conn.commit()
    loaded = time.perf_counter() - started
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) customers")
        conn.execute("ANALYZE tenants")
    print(
        f"  loaded {customers:,} customers in {tenants} tenants in {loaded:.1f} s "
        f"({customers / loaded:,.0f} rows/s); VACUUM ANALYZE {time.perf_counter() - started - loaded:.1f} s"
    )
    return tenant_ids


def explain(settings: Settings, tenant: uuid.UUID, offset: int) -> None:
    """EXPLAIN ANALYZE the exact statements the endpoint runs, as the runtime role, RLS context set."""
    for statement, params in asyncio.run(list_statements(settings, tenant, offset)):
        with psycopg.connect(settings.runtime_database_url) as conn:
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))
            sql = f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}"
            plan = [row[0] for row in conn.execute(sql, params)]
        print(
            f"  EXPLAIN ANALYZE as {settings.app_role} (offset={offset}): {' '.join(statement.split())[:90]}…"
        )
        for line in plan:
            print(f"    {line}")


async def list_statements(settings: Settings, tenant: uuid.UUID, offset: int) -> list[tuple[str, Any]]:
    """The SQL ``CustomerService.list`` sends for one page (captured from the driver cursor)."""
    engine = make_async_engine(settings.runtime_database_url, pool_size=1)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "set_config" not in statement:
            seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    principal = Principal(sub="bench", role=Role.TENANT_ADMIN, tenant_id=tenant)
    try:
        async with Database(engine).transaction(tenant) as session:
            await CustomerService(session, principal, tenant).list([], 50, offset)
    finally:
        await engine.dispose()
    return seen


def measure(
    url: str, tokens: dict[uuid.UUID, str], requests: int, offsets: tuple[int, ...], rng: random.Random
) -> dict[int, list[float]]:
    """``requests`` GETs per offset, interleaved (same conditions for each), random tenant each."""
    tenants = list(tokens)
    samples: dict[int, list[float]] = {offset: [] for offset in offsets}
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(20):  # warm the pool, the caches and the code paths
            client.get(
                "/v1/customers", params={"limit": 50}, headers=_auth(tokens[tenants[i % len(tenants)]])
            )
        for _ in range(requests):
            for offset in offsets:
                tenant = rng.choice(tenants)
                started = time.perf_counter()
                response = client.get(
                    "/v1/customers", params={"limit": 50, "offset": offset}, headers=_auth(tokens[tenant])
                )
                samples[offset].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"GET /v1/customers: {response.status_code} {response.text[:300]}")
                items = response.json()["items"]
                if len(items) != 50 or any(item["tenant_id"] != str(tenant) for item in items):
                    raise RuntimeError("wrong page: RLS or paging is broken")
    return samples


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100k rows / 20 tenants, fewer requests")
    parser.add_argument("--requests", type=int, default=None, help="requests per page kind (default 400)")
    args = parser.parse_args()
    tenants, customers = (20, 100_000) if args.quick else (100, 1_000_000)
    requests = args.requests or (150 if args.quick else 400)
    per_tenant = customers // tenants
    deep = per_tenant // 2  # middle of a tenant's list: 5,000 at full size
    rng = random.Random(7)

    print(
        f"bench_list_customers: {customers:,} customers, {tenants} tenants, {requests} requests per page kind"
    )
    with bench_database("customers") as settings:
        tenant_ids = load(settings, tenants, customers)
        # Tokens from the server's own signing key (created in its data dir here, read by the server).
        issuer = TokenIssuer.from_settings(settings)
        tokens = {
            t: issuer.issue(Principal(sub=f"user:{uuid.uuid4()}", role=Role.TENANT_ADMIN, tenant_id=t))
            for t in tenant_ids
        }
        explain(settings, tenant_ids[0], deep)
        with serve(settings) as url:
            samples = measure(url, tokens, requests, (0, deep), rng)
        first = print_latency("first page (offset=0)", samples[0])
        deep_p = print_latency(f"deep page (offset={deep:,})", samples[deep])
    worst = max(first["p95"], deep_p["p95"])
    verdict = "ok" if worst < TARGET_P95_MS else "MISSED"
    print(f"  target: p95 < {TARGET_P95_MS:.0f} ms on both pages -> {verdict}")
    print(
        f"RESULT list_customers_p95={worst:.2f} ms target=<{TARGET_P95_MS:.0f} "
        f"(first={first['p95']:.2f} deep={deep_p['p95']:.2f}, rows={customers})"
    )


if __name__ == "__main__":
    main_guard(run)
