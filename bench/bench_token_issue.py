"""API-key grant token issue rate: POST /v1/auth/token {"grant_type": "api_key"} through the app.

Builds its own database, creates a tenant, a site and edge API keys with the ``appliance admin``
CLI, starts ``appliance serve`` (uvicorn subprocess, one worker) with the auth rate limit lifted
(APPLIANCE_RATE_LIMIT_AUTH_PER_MINUTE), then issues tokens sequentially and from a few concurrent
clients (httpx.AsyncClient, one API key each). Also prints the raw ``TokenIssuer.issue()`` rate,
the RS256 signing floor of every grant.

    python bench/bench_token_issue.py              # 3,000 sequential, 4 s per concurrency level
    python bench/bench_token_issue.py --quick      # 500 sequential, 1.5 s per level
    python bench/bench_token_issue.py --workers 2  # `appliance serve --workers 2`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid

import httpx
import psycopg

from _common import REPO, BenchError, bench_database, main_guard, print_latency, serve, settings_env
from appliance.config import Settings
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.auth.tokens import TokenIssuer

TARGET_PER_S = 500.0
CONCURRENCY = (1, 4, 8)


def cli(settings: Settings, *args: str) -> dict[str, str]:
    """``appliance <args> --json`` as a subprocess, the way an operator bootstraps an edge box."""
    done = subprocess.run(
        [sys.executable, "-m", "appliance", *args, "--json"],
        env=settings_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"appliance {' '.join(args)} failed:\n{done.stderr or done.stdout}")
    created: dict[str, str] = json.loads(done.stdout)
    return created


def provision(settings: Settings, keys: int) -> list[str]:
    tenant = cli(settings, "admin", "create-tenant", f"bench-{uuid.uuid4().hex[:8]}")
    site_id = uuid.uuid4()
    # No CLI for sites: the owner connection (a superuser, so RLS does not apply) inserts one.
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 'Bench store', 'UTC')",
            (site_id, tenant["id"]),
        )
    return [
        cli(settings, "admin", "create-api-key", "--tenant", tenant["id"], "--site", str(site_id))["api_key"]
        for _ in range(keys)
    ]


def raw_issue_rate(settings: Settings, seconds: float) -> float:
    issuer = TokenIssuer.from_settings(settings)
    principal = Principal(
        sub=f"apikey:{uuid.uuid4()}", role=Role.WORKER, tenant_id=uuid.uuid4(), site_ids=(uuid.uuid4(),)
    )
    issuer.issue(principal)
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            issuer.issue(principal)
        count += 50
    return count / elapsed


def grant(api_key: str) -> dict[str, str]:
    return {"grant_type": "api_key", "api_key": api_key}


def sequential(url: str, api_key: str, requests: int) -> tuple[float, list[float]]:
    samples: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(20):
            client.post("/v1/auth/token", json=grant(api_key))
        started = time.perf_counter()
        for _ in range(requests):
            t0 = time.perf_counter()
            response = client.post("/v1/auth/token", json=grant(api_key))
            samples.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"token: {response.status_code} {response.text[:300]}")
        return requests / (time.perf_counter() - started), samples


async def concurrent(url: str, api_keys: list[str], clients: int, seconds: float) -> tuple[float, int]:
    """``clients`` loops, each with its own connection and API key, for ``seconds``; (rate, errors)."""
    done = errors = 0
    stop = time.perf_counter() + seconds

    async def worker(api_key: str) -> None:
        nonlocal done, errors
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            while time.perf_counter() < stop:
                response = await client.post("/v1/auth/token", json=grant(api_key))
                if response.status_code == 200:
                    done += 1
                else:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(api_keys[i % len(api_keys)]) for i in range(clients)))
    return done / (time.perf_counter() - started), errors


def run() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter runs")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = parser.parse_args()
    requests, seconds = (500, 1.5) if args.quick else (3000, 4.0)

    print(
        f"bench_token_issue: api_key grant, {requests} sequential, {seconds:.1f} s per concurrency level,"
        f" {args.workers} server worker(s)"
    )
    with bench_database("tokens", rate_limit_auth_per_minute=0) as settings:
        keys = provision(settings, max(CONCURRENCY))
        raw = raw_issue_rate(settings, seconds)
        print(f"  raw TokenIssuer.issue() (RS256 sign, no I/O): {raw:8.0f} tokens/s in one thread")
        with serve(settings, workers=args.workers) as url:
            rate, samples = sequential(url, keys[0], requests)
            print(f"  sequential, 1 client, keep-alive           : {rate:8.0f} req/s")
            print_latency("sequential latency", samples)
            best = rate
            for clients in CONCURRENCY:
                asyncio.run(concurrent(url, keys, clients, 0.3))
                crate, errors = asyncio.run(concurrent(url, keys, clients, seconds))
                note = f"  ({errors} errors)" if errors else ""
                print(f"  concurrent, {clients} clients (httpx.AsyncClient)  : {crate:8.0f} req/s{note}")
                best = max(best, crate)
    verdict = "ok" if best >= TARGET_PER_S else "MISSED"
    print(f"  target: >= {TARGET_PER_S:.0f} tokens/s through the app -> {verdict}")
    print(
        f"RESULT token_issue_rate={best:.0f} req/s target=>={TARGET_PER_S:.0f} "
        f"(sequential={rate:.0f}, raw_sign={raw:.0f}/s, workers={args.workers})"
    )


if __name__ == "__main__":
    main_guard(run)
