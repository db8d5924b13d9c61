"""Token issue rate (api_key grant) measured with wrk, a C load generator, so the client does not
compete with the server for Python CPU on this 2-core machine.

    python bench/bench_token_wrk.py [--seconds 10] [--connections 8]

Target: >= 500 tokens/s through the app. Needs `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import uuid

import psycopg

from _common import BenchError, bench_database, main_guard, serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: apt-get install -y wrk")
    from appliance.domain.auth import api_keys

    with bench_database("wrk", rate_limit_auth_per_minute=0) as settings:
        tenant, site, key_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        secret = api_keys.new_secret()
        with psycopg.connect(settings.database_url) as conn:
            conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'bench-wrk')", (tenant,))
            conn.execute(
                "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 's', 'UTC')",
                (site, tenant),
            )
            conn.execute(
                "INSERT INTO api_keys (id, tenant_id, site_id, name, secret_hash)"
                " VALUES (%s, %s, %s, 'k', %s)",
                (key_id, tenant, site, api_keys.hash_secret(secret)),
            )
        body = json.dumps({"grant_type": "api_key", "api_key": api_keys.format_key(tenant, key_id, secret)})
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
            script.write(f"wrk.body = {json.dumps(body)}\n")
            script.flush()
            with serve(settings, APPLIANCE_LOG_LEVEL="WARNING", APPLIANCE_SCHEDULER="false") as url:
                command = ["wrk", "-t1", f"-c{args.connections}", "-s", script.name, f"{url}/v1/auth/token"]
                subprocess.run(
                    [*command[:2], "-d2s", *command[2:]], capture_output=True, check=True
                )  # warm-up
                out = subprocess.run(
                    [*command[:2], f"-d{args.seconds}s", *command[2:]],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
    print(out)
    if "Non-2xx" in out:
        raise BenchError("some token requests failed")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    verdict = "met" if rate >= 500 else "MISSED"
    print(f"RESULT token_issue_wrk_rate={rate:.0f} req/s target=>=500 ({verdict}, 1 server worker)")


if __name__ == "__main__":
    main_guard(main)
