"""Run bench/locustfile.py (the seed's 50 rps ingest scenario) against a real server.

python bench/bench_locust.py [--users 50] [--seconds 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from _common import BenchError, bench_database, main_guard, serve
from bench_ingest import DIM, make_api_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    args = parser.parse_args()
    with bench_database(
        "locust",
        embedding_dim=DIM,
        rate_limit_ingest_per_second=0,
        rate_limit_auth_per_minute=0,
    ) as settings:
        tenant, site, camera = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        with psycopg.connect(settings.database_url) as conn:
            conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'bench-locust')", (tenant,))
            conn.execute(
                "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 's', 'UTC')",
                (site, tenant),
            )
            conn.execute(
                "INSERT INTO cameras (id, tenant_id, site_id, name, source) VALUES (%s, %s, %s, 'c', '0')",
                (camera, tenant, site),
            )
        key = make_api_key(settings, tenant, site)
        with (
            serve(
                settings,
                workers=args.workers,
                APPLIANCE_EMBEDDING_DIM=str(DIM),
                APPLIANCE_LOG_LEVEL="WARNING",
            ) as url,
            tempfile.TemporaryDirectory() as out,
        ):
            env = {
                **os.environ,
                "LOCUST_API_KEY": key,
                "LOCUST_SITE_ID": str(site),
                "LOCUST_CAMERA_ID": str(camera),
                "LOCUST_DIM": str(DIM),
            }
            prefix = str(Path(out) / "run")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(Path(__file__).with_name("locustfile.py")),
                    "--headless",
                    "-u",
                    str(args.users),
                    "-r",
                    str(args.users),
                    "-t",
                    f"{args.seconds}s",
                    "-H",
                    url,
                    "--csv",
                    prefix,
                    "--only-summary",
                ],
                env=env,
                check=False,
                capture_output=True,
                text=True,
            )
            with open(f"{prefix}_stats.csv", newline="") as stats:
                rows = list(csv.DictReader(stats))
    row = next((r for r in rows if r["Name"] == "/v1/events/face"), None)
    if row is None:
        raise BenchError("locust recorded no ingest requests")
    rps, p95, fails = float(row["Requests/s"]), float(row["95%"]), int(row["Failure Count"])
    print(
        f"  {row['Request Count']} requests, {fails} failures, {rps:.1f} req/s,"
        f" p50 {row['50%']} ms, p95 {p95:.0f} ms"
    )
    print(f"RESULT locust_ingest_rps={rps:.1f} req/s target=50 (users={args.users})")
    print(f"RESULT locust_ingest_p95={p95:.0f} ms target=<300ms (the embedded index is real)")


if __name__ == "__main__":
    main_guard(main)
