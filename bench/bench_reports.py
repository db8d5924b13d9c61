"""Visitor report latency on a large visit table.

    python bench/bench_reports.py            # 10 M visits (10 sites x 1 year), report by day for a month
    python bench/bench_reports.py --quick    # 1 M visits

Target: visitors report by day for a month < 100 ms. Measured twice: from the rollups (after the
refresh job ran) and live (every day marked dirty, as right after a bulk import).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import psycopg

from _common import bench_database, main_guard, print_latency, require_postgres, serve

SITES = 10
CUSTOMERS = 100_000
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def seed(settings, visits: int) -> dict[str, object]:
    rng = np.random.default_rng(7)
    tenant = uuid.uuid4()
    sites = [uuid.uuid4() for _ in range(SITES)]
    customers = [uuid.uuid4() for _ in range(CUSTOMERS)]
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'bench-reports')", (tenant,))
        for i, site in enumerate(sites):
            conn.execute(
                "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, %s, 'Europe/Berlin')",
                (site, tenant, f"site-{i}"),
            )
        with conn.cursor().copy("COPY customers (id, tenant_id) FROM STDIN") as copy:
            for cid in customers:
                copy.write_row((cid, tenant))
        # Bulk load without the per-row trigger; the days are marked dirty in one statement.
        conn.execute("ALTER TABLE visits DISABLE TRIGGER visits_mark_rollups")
        started = time.perf_counter()
        seconds = rng.integers(0, 365 * 86400, visits)
        site_idx = rng.integers(0, SITES, visits)
        cust_idx = rng.integers(0, CUSTOMERS, visits)
        new = rng.random(visits) < 0.3
        with conn.cursor().copy(
            "COPY visits (tenant_id, site_id, customer_id, first_seen, last_seen, sightings, is_new_customer)"
            " FROM STDIN"
        ) as copy:
            for i in range(visits):
                at = YEAR_START + timedelta(seconds=int(seconds[i]))
                copy.write_row((tenant, sites[site_idx[i]], customers[cust_idx[i]], at, at, 1, bool(new[i])))
        conn.execute("ALTER TABLE visits ENABLE TRIGGER visits_mark_rollups")
        conn.execute(
            "INSERT INTO rollup_dirty (tenant_id, site_id, day)"
            " SELECT DISTINCT v.tenant_id, v.site_id, (v.first_seen AT TIME ZONE s.timezone)::date"
            " FROM visits v JOIN sites s ON s.id = v.site_id ON CONFLICT DO NOTHING"
        )
        conn.commit()
        conn.execute("ANALYZE visits")
        print(f"  loaded {visits:,} visits in {time.perf_counter() - started:.0f}s")
    return {"tenant": tenant, "sites": sites}


def measure(url: str, token: str, tenant: uuid.UUID, sites: list[uuid.UUID], label: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": str(tenant)}
    samples = []
    with httpx.Client(base_url=url, timeout=60, headers=headers) as http:
        for i in range(60):
            month = 1 + i % 12
            # Local midnights of the site's zone: the window is exactly one calendar month.
            start = datetime(2025, month, 1, tzinfo=BERLIN).isoformat()
            end = (datetime(2025, month, 28) + timedelta(days=4)).replace(day=1, tzinfo=BERLIN).isoformat()
            params = {"granularity": "day", "site_id": str(sites[i % len(sites)]), "from": start, "to": end}
            t0 = time.perf_counter()
            response = http.get("/v1/reports/visitors", params=params)
            samples.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            assert len(response.json()["buckets"]) >= 28
    return print_latency(label, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    visits = 1_000_000 if args.quick else args.visits
    require_postgres()
    print(f"\n== reports: {visits:,} visits, {SITES} sites, visitors by day for one month ==")
    with bench_database("reports") as settings:
        ids = seed(settings, visits)
        from appliance.domain.auth.principal import Principal, Role
        from appliance.domain.auth.tokens import TokenIssuer

        with serve(settings, APPLIANCE_LOG_LEVEL="WARNING", APPLIANCE_SCHEDULER="false") as url:
            issuer = TokenIssuer.from_settings(settings)
            token = issuer.issue(Principal(sub="bench", role=Role.SYSTEM_ADMIN, tenant_id=None))
            live = measure(url, token, ids["tenant"], ids["sites"], "live (all days dirty)")
            t0 = time.perf_counter()
            with httpx.Client(base_url=url, timeout=3600) as http:
                refreshed = http.post(
                    "/v1/reports/refresh",
                    headers={"Authorization": f"Bearer {token}", "X-Tenant-ID": str(ids["tenant"])},
                ).json()
            took = time.perf_counter() - t0
            print(f"  rollup refresh of {refreshed['days_refreshed']:,} site-days in {took:.0f}s")
            rolled = measure(url, token, ids["tenant"], ids["sites"], "from rollups")
    print(f"RESULT reports_month_by_day_rollup_p95={rolled['p95']:.1f} ms target=<100ms ({visits:,} visits)")
    print(f"RESULT reports_month_by_day_live_p95={live['p95']:.1f} ms target=report")


if __name__ == "__main__":
    main_guard(main)
