"""Soak: a real ``appliance serve`` ingesting R events/s for N minutes; does it leak?

    python bench/bench_soak.py                   # 30 min at 100 events/s (the issue-18 soak)
    python bench/bench_soak.py --minutes 5       # shorter
    python bench/bench_soak.py --minutes 5 --rate 50 --faces 1000 --json soak.json
    python bench/bench_soak.py --quick           # 2 min, 500 people (bench/run_all.py --quick)

One tenant, a fixed population of ``--faces`` people (512-D): each event is one of them seen again
(a fresh event id, a vector near the person's — close enough that it adds no exemplar). Before
the clock starts every person is sighted once (priming), so every person is a customer and the
data an API process holds stops growing: what grows after that is a leak. The load is open loop:
events are due on schedule whatever the answers do, at most ``--concurrency`` in flight; when the
server falls more than ten seconds behind, due events are shed (counted) rather than piled up in
the client.

Every ``--sample-seconds`` the API process is sampled from /proc: resident memory (VmRSS) and open
file descriptors; PostgreSQL is asked how many connections the API holds. Reported: the RSS
after the warm-up (``--warmup-minutes``, default a fifth of the run, at most 5) and at the end,
its growth in % and its slope (least squares, MiB/hour), open fds at start/end/max, connections,
answers by status, latency percentiles, and customers/exemplars at the warm-up's end and the
end (flat when the population is settled). Target (issue 18): RSS growth < 5 % after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from _common import (
    REPO,
    BenchError,
    bench_database,
    face_event,
    free_port,
    main_guard,
    percentiles,
    settings_env,
)

DIM = 512
PAGE = os.sysconf("SC_PAGE_SIZE")
SEEN_AGAIN_COSINE = 0.95
"""Two sightings of a person then resemble each other at ~0.90, above the exemplar diversity
cut (0.85, ADR 0005): no new exemplar, the index stays the size the priming made it."""
BEHIND_SECONDS = 10.0


@contextlib.contextmanager
def serve_process(settings: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``appliance serve`` (one process, so its /proc entry is the whole API) on a free port."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w+b", prefix="bench-soak-", suffix=".log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=settings_env(settings, APPLIANCE_EMBEDDING_DIM=str(DIM), APPLIANCE_SCHEDULER="false"),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    tail = Path(log.name).read_text(errors="replace")[-3000:]
                    raise BenchError(f"the server exited with {proc.returncode}:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError("the server did not start in 60 s")
                time.sleep(0.2)
            yield url, proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def seed(settings: Any) -> dict[str, str]:
    """Tenant, site, camera and a worker API key (made by the CLI, as an installer would)."""
    tenant, site, camera = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"soak-{tenant.hex[:6]}"))
        conn.execute(
            "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 'soak', 'Europe/Berlin')",
            (site, tenant),
        )
        conn.execute(
            "INSERT INTO cameras (id, tenant_id, site_id, name, source) VALUES (%s, %s, %s, 'door', '0')",
            (camera, tenant, site),
        )
    from bench_ingest import make_api_key

    key = make_api_key(settings, tenant, site)
    return {"tenant": str(tenant), "site": str(site), "camera": str(camera), "api_key": key}


def population(rng: np.random.Generator, faces: int) -> np.ndarray:
    v = rng.standard_normal((faces, DIM)).astype(np.float32)
    unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


def seen_again(rng: np.random.Generator, base: np.ndarray, cosine: float = SEEN_AGAIN_COSINE) -> np.ndarray:
    noise = rng.standard_normal(DIM).astype(np.float32)
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    near: np.ndarray = cosine * base + np.sqrt(1 - cosine**2) * noise
    return near


def counts(settings: Any, tenant: str) -> dict[str, int]:
    with psycopg.connect(settings.database_url) as conn:
        out = {}
        for table in ("customers", "customer_exemplars", "sightings"):
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (tenant,)).fetchone()
            out[table] = int(row[0]) if row else 0
        return out


def pg_connections(settings: Any) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (settings.app_role,)
        ).fetchone()
        return int(row[0]) if row else 0


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) in value per hour."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 3600


async def soak(
    url: str,
    token: str,
    ids: dict[str, str],
    settings: Any,
    pid: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    rng = np.random.default_rng(18)
    people = population(rng, args.faces)
    duration = args.minutes * 60
    warmup = args.warmup_minutes * 60
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    samples: list[dict[str, float]] = []
    in_flight = asyncio.Semaphore(args.concurrency)
    counters = {"sent": 0, "done": 0, "shed": 0}
    warm_counts: dict[str, int] = {}

    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        limits=httpx.Limits(max_connections=args.concurrency),
    ) as http:

        async def one(body: dict[str, Any], record: bool = True) -> None:
            async with in_flight:
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/events/face", json=body)
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if record:
                    statuses[status] += 1
                    latencies.append((time.perf_counter() - started) * 1000)
                counters["done"] += 1

        def sample(elapsed: float) -> dict[str, float]:
            return {
                "t": elapsed,
                "rss_mib": rss_bytes(pid) / 2**20,
                "fds": float(open_fds(pid)),
                "pg_connections": float(pg_connections(settings)),
                "sent": float(counters["sent"]),
                "done": float(counters["done"]),
                "shed": float(counters["shed"]),
            }

        async def sampler(start: float) -> None:
            nonlocal warm_counts
            while True:
                elapsed = time.monotonic() - start
                taken = await asyncio.to_thread(sample, elapsed)
                samples.append(taken)
                if not warm_counts and elapsed >= warmup:
                    warm_counts = await asyncio.to_thread(counts, settings, ids["tenant"])
                print(
                    f"  t={elapsed:6.0f}s  rss={taken['rss_mib']:7.1f} MiB  fds={int(taken['fds']):4d}"
                    f"  pg={int(taken['pg_connections']):3d}  done={counters['done']}"
                    f"  behind={counters['sent'] - counters['done']}  shed={counters['shed']}",
                    flush=True,
                )
                await asyncio.sleep(args.sample_seconds)

        # Priming: every person once, as fast as the concurrency allows (not measured).
        primed = time.monotonic()
        await asyncio.gather(
            *(
                one(face_event(ids["site"], ids["camera"], datetime.now(UTC).isoformat(), person), False)
                for person in people
            )
        )
        counters["done"] = 0
        print(f"  primed {args.faces} people in {time.monotonic() - primed:.0f} s", flush=True)

        start = time.monotonic()
        sampling = asyncio.create_task(sampler(start))
        tasks: set[asyncio.Task[None]] = set()
        interval = 1.0 / args.rate
        due_count = 0
        while True:
            due = start + due_count * interval
            if due - start >= duration:
                break
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            due_count += 1
            if counters["sent"] - counters["done"] > args.rate * BEHIND_SECONDS:
                counters["shed"] += 1  # the server is far behind: do not pile events up here
                continue
            person = people[int(rng.integers(args.faces))]
            body = face_event(
                ids["site"], ids["camera"], datetime.now(UTC).isoformat(), seen_again(rng, person)
            )
            task = asyncio.create_task(one(body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            counters["sent"] += 1
        loaded = time.monotonic() - start
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        answered_in = time.monotonic() - start
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    samples.append(sample(time.monotonic() - start))
    after = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    rss_warm, rss_end = after[0]["rss_mib"], samples[-1]["rss_mib"]
    return {
        "minutes": args.minutes,
        "rate_target": args.rate,
        "rate_answered": counters["done"] / answered_in,
        "load_seconds": loaded,
        "events_sent": counters["sent"],
        "events_answered": counters["done"],
        "events_shed": counters["shed"],
        "faces": args.faces,
        "statuses": dict(statuses),
        "latency_ms": percentiles(latencies) if len(latencies) > 1 else {},
        "warmup_minutes": args.warmup_minutes,
        "rss_mib": {
            "start": samples[0]["rss_mib"],
            "after_warmup": rss_warm,
            "end": rss_end,
            "max": max(s["rss_mib"] for s in samples),
        },
        "rss_growth_after_warmup_pct": (rss_end - rss_warm) / rss_warm * 100,
        "rss_slope_after_warmup_mib_per_hour": slope_per_hour([(s["t"], s["rss_mib"]) for s in after]),
        "fds": {
            "start": int(samples[0]["fds"]),
            "after_warmup": int(after[0]["fds"]),
            "end": int(samples[-1]["fds"]),
            "max": int(max(s["fds"] for s in samples)),
        },
        "pg_connections": {
            "end": int(samples[-1]["pg_connections"]),
            "max": int(max(s["pg_connections"] for s in samples)),
        },
        "rows_after_warmup": warm_counts,
        "rows_end": counts(settings, ids["tenant"]),
        "samples": samples,
    }


def report(result: dict[str, Any]) -> None:
    rss, fds = result["rss_mib"], result["fds"]
    print(
        f"\nsoak: {result['minutes']} min at {result['rate_target']:g} events/s"
        f": answered {result['rate_answered']:.1f}/s"
        f" ({result['events_answered']} of {result['events_sent']} sent, {result['events_shed']} shed"
        f" while the server was > {BEHIND_SECONDS:g} s behind), {result['faces']} people"
    )
    print(f"  answers: {result['statuses']}")
    if result["latency_ms"]:
        p = result["latency_ms"]
        print(
            f"  latency: p50={p['p50']:.1f} ms  p95={p['p95']:.1f} ms  p99={p['p99']:.1f} ms"
            f"  max={p['max']:.0f} ms"
        )
    print(
        f"  RSS: start {rss['start']:.1f} MiB,"
        f" after {result['warmup_minutes']:g} min warm-up {rss['after_warmup']:.1f},"
        f" end {rss['end']:.1f}, max {rss['max']:.1f}"
    )
    print(
        f"  RSS growth after warm-up: {result['rss_growth_after_warmup_pct']:+.2f} %"
        f"  (slope {result['rss_slope_after_warmup_mib_per_hour']:+.1f} MiB/hour; target < 5 %)"
    )
    print(
        f"  open fds: start {fds['start']}, after warm-up {fds['after_warmup']},"
        f" end {fds['end']}, max {fds['max']}"
    )
    print(
        f"  PostgreSQL connections of the API: end {result['pg_connections']['end']},"
        f" max {result['pg_connections']['max']}"
    )
    print(f"  rows after warm-up {result['rows_after_warmup']}, at the end {result['rows_end']}")
    print(
        f"RESULT soak {result['minutes']:g} min @ {result['rate_target']:g}/s:"
        f" RSS {result['rss_growth_after_warmup_pct']:+.2f} % after warm-up"
        f" ({result['rss_slope_after_warmup_mib_per_hour']:+.1f} MiB/h),"
        f" fds {fds['after_warmup']}->{fds['end']},"
        f" answered {result['rate_answered']:.1f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--warmup-minutes", type=float, default=None)
    parser.add_argument("--faces", type=int, default=2000, help="people in the population")
    parser.add_argument("--concurrency", type=int, default=32, help="events in flight at most")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the result (with samples) here")
    parser.add_argument("--quick", action="store_true", help="2 minutes, 500 people (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.faces = 2.0, 500
    if args.minutes <= 0 or args.rate <= 0:
        parser.error("--minutes and --rate must be positive")
    if args.warmup_minutes is None:
        args.warmup_minutes = min(5.0, args.minutes / 5)
    with bench_database("soak", rate_limit_ingest_per_second=0) as settings:
        ids = seed(settings)
        with serve_process(settings) as (url, proc):
            response = httpx.post(
                f"{url}/v1/auth/token", json={"grant_type": "api_key", "api_key": ids["api_key"]}
            )
            if response.status_code != 200:
                raise BenchError(f"worker token: {response.status_code} {response.text}")
            token = response.json()["access_token"]
            print(
                f"soak: {args.minutes:g} min at {args.rate:g} events/s, {args.faces} people, pid {proc.pid}"
            )
            result = asyncio.run(soak(url, token, ids, settings, proc.pid, args))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main_guard(main)
