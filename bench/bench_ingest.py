"""Ingest throughput and latency: real PostgreSQL + the embedded vector index, 512-D, N customers
in one tenant, 70 % returning / 30 % new events, 16 concurrent clients on this machine.

    python bench/bench_ingest.py                 # 20 k and 100 k customers, 20 s each
    python bench/bench_ingest.py --customers 20000 --seed api   # customers made by 20 k API events
    python bench/bench_ingest.py --customers 20000 --seconds 30 --workers 2
    python bench/bench_ingest.py --quick         # 2 k customers, 5 s
    python bench/bench_ingest.py --customers 20000 --rate 100   # paced: latency at a given load
    python bench/bench_ingest.py --customers 20000 --milvus-uri http://127.0.0.1:19530  # a server

Seeding: ``bulk`` (default) writes the customers with COPY; ``api`` posts one event per customer
through ``POST /v1/events/face`` first (as a shop fills its index), then waits for the box to be
idle. In the same run wrk measures ``GET /healthz``: the ingest figure as a share of that floor
is comparable across machines.

The load generator is wrk (C, `apt-get install wrk`; bench/ingest.lua posts pre-built events,
each with its own event_id) so the client takes little of the 2 cores; without wrk a Python
client runs instead (and competes with the server for CPU).

Targets (issue 16): 20 k customers >= 800 events/s, p95 < 30 ms, >= 25 % of /healthz;
100 k customers >= 500 events/s, p95 < 50 ms, >= 15 % of /healthz.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from _common import (
    CPU_GROUPS,
    BenchError,
    ProcessCpu,
    bench_database,
    face_event,
    main_guard,
    print_latency,
    require_postgres,
    serve,
)

DIM = 512
CONCURRENCY = 16
NEW_SHARE = 0.3
NPROBE: int | None = None
RATE: float | None = None
TRACE: str | None = None
"""With RATE: write each request's due time (epoch ms) and latency (ms) to this file."""
WARM_UP = 160
"""Events sent before the measurement (not counted)."""
START_DELAY = 2.0
"""Seconds from starting wrk to the paced schedule's common start (its threads load their events)."""
MILVUS_URI: str | None = None
SEED = "bulk"
SERVER_SETTINGS: dict[str, str] = {}


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


def near(rng: np.random.Generator, base: np.ndarray, cosine: float) -> np.ndarray:
    noise = rng.standard_normal(DIM).astype(np.float32)
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    out = cosine * base + np.sqrt(1 - cosine**2) * noise
    unit: np.ndarray = out / np.linalg.norm(out)
    return unit


def seed(settings: Any, customers: int, rng: np.random.Generator) -> tuple[dict[str, str], np.ndarray]:
    """Tenant, site, camera and API key; with ``SEED == "bulk"`` also the customers, their
    exemplars, first visits and sightings with COPY (a Milvus collection is then rebuilt from
    them). With ``"api"`` the customers come later, as events (``seed_through_api``)."""
    from appliance.db.types import embedding_bytes

    tenant, site, camera = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    vectors = unit_rows(rng, customers)
    ids = [uuid.uuid4() for _ in range(customers)]
    exemplar_ids = [uuid.uuid4() for _ in range(customers)]
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"bench-{tenant.hex[:6]}"))
        conn.execute(
            "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 'bench', 'Europe/Berlin')",
            (site, tenant),
        )
        conn.execute(
            "INSERT INTO cameras (id, tenant_id, site_id, name, source) VALUES (%s, %s, %s, 'door', '0')",
            (camera, tenant, site),
        )
        if SEED == "api":
            conn.commit()
            key = make_api_key(settings, tenant, site)
            return {"tenant": str(tenant), "site": str(site), "camera": str(camera), "api_key": key}, vectors
        # Each customer with the history that made it one: a first visit and its sighting in the
        # last 60 days. Without them the hot tables start empty, and plans and index sizes are
        # those of a new install, not of a shop with this many customers.
        now = time.time()
        days_ago = rng.uniform(1, 60, customers)
        first_seen = [datetime.fromtimestamp(now - float(d) * 86400, UTC) for d in days_ago]
        visit_ids = [uuid.uuid4() for _ in range(customers)]
        with conn.cursor().copy(
            "COPY customers (id, tenant_id, visit_count, exemplar_count, first_seen, last_seen, created_at)"
            " FROM STDIN"
        ) as copy:
            for cid, seen in zip(ids, first_seen, strict=True):
                copy.write_row((cid, tenant, 1, 1, seen, seen, seen))
        with conn.cursor().copy(
            "COPY customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality,"
            " created_at) FROM STDIN"
        ) as copy:
            rows = zip(exemplar_ids, ids, visit_ids, vectors, first_seen, strict=True)
            for eid, cid, vid, vec, seen in rows:
                copy.write_row((eid, tenant, cid, vid, embedding_bytes(vec), 0.8, seen))
        with conn.cursor().copy(
            "COPY visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, sightings,"
            " is_new_customer, created_at) FROM STDIN"
        ) as copy:
            for vid, cid, seen in zip(visit_ids, ids, first_seen, strict=True):
                copy.write_row((vid, tenant, site, cid, seen, seen, 1, True, seen))
        with conn.cursor().copy(
            "COPY sightings (id, tenant_id, site_id, camera_id, customer_id, visit_id, captured_at,"
            " received_at, embedding, det_score, quality, uncertain, is_staff, is_new_customer, model,"
            " response) FROM STDIN"
        ) as copy:
            # The sighting's id doubles as its visit's: one first sighting per seeded visit.
            for vid, cid, vec, seen in zip(visit_ids, ids, vectors, first_seen, strict=True):
                row = (vid, tenant, site, camera, cid, vid, seen, seen, embedding_bytes(vec), 0.9, 0.8)
                copy.write_row((*row, False, False, True, "bench", "{}"))
    if settings.milvus_uri:
        rebuild_milvus(settings)
    key = make_api_key(settings, tenant, site)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        # As autovacuum leaves a running box: statistics (without them the planner reads the
        # bulk-loaded tables as empty and picks plans that scan the whole tenant) and the first
        # vacuum of the loaded rows (else autovacuum starts it during the measured run).
        conn.execute("VACUUM (ANALYZE)")
    return {"tenant": str(tenant), "site": str(site), "camera": str(camera), "api_key": key}, vectors


def rebuild_milvus(settings: Any) -> None:
    """The collection from PostgreSQL, as ``appliance reindex`` does."""
    from appliance.db.engine import Database, make_async_engine
    from appliance.vectors.milvus_store import MilvusStore
    from appliance.vectors.reindex import reindex

    store = MilvusStore(settings.milvus_uri, DIM, collection=settings.milvus_collection)

    async def go() -> None:
        db = Database(make_async_engine(settings.database_url, pool_size=1))
        try:
            await reindex(db, store)
        finally:
            await db.dispose()

    asyncio.run(go())
    store.close()


def wait_until_idle(settings: Any, quiet_seconds: float = 5.0, limit: float = 300.0) -> float:
    """Until no autovacuum worker has run for ``quiet_seconds`` (the inserts of the seeding are
    vacuumed and analysed, as on a box between its busy hours); seconds waited."""
    started = time.perf_counter()
    quiet_since = time.perf_counter()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while time.perf_counter() - started < limit:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()
            if row and row[0]:
                quiet_since = time.perf_counter()
            elif time.perf_counter() - quiet_since >= quiet_seconds:
                break
            time.sleep(0.5)
    return time.perf_counter() - started


def seed_through_api(url: str, token: str, ids: dict[str, str], vectors: np.ndarray, settings: Any) -> None:
    """One event per customer through the API (new faces, 16 at a time), then wait for the box to
    be idle (the Milvus backend: until its sync has written them all)."""
    bodies = [
        json.dumps(face_event(ids["site"], ids["camera"], recent(hours_ago=30), vector)).encode()
        for vector in vectors
    ]
    started = time.perf_counter()
    asyncio.run(load_python(url, token, bodies, quiet=True))
    print(f"  seeded {len(bodies):,} customers through the API in {time.perf_counter() - started:.1f}s")
    if MILVUS_URI:
        time.sleep(15)  # the sync and Milvus's own flushes
    print(f"  {settle(settings)}")


def settle(settings: Any) -> str:
    """The box between its busy hours: autovacuum has vacuumed and analysed the seeding's rows.
    Where the server runs without autovacuum (some CI configurations), the bench does it: else
    the planner never learns the tables' sizes, and every plan stays the one made on empty tables."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('autovacuum') = 'on'").fetchone()
        if row and row[0]:
            return f"waited {wait_until_idle(settings):.0f}s for autovacuum to finish"
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
    return f"autovacuum is off on this server: ran VACUUM (ANALYZE) in {time.perf_counter() - started:.1f}s"


def healthz_floor(url: str, seconds: int = 5) -> float:
    """Requests/s the same server answers on GET /healthz, measured by the same wrk."""
    command = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", "--timeout", "10s", f"{url}/healthz"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    return float(line.split()[1])


def make_api_key(settings: Any, tenant: uuid.UUID, site: uuid.UUID) -> str:
    from appliance.domain.auth import api_keys

    secret = api_keys.new_secret()
    key_id = uuid.uuid4()
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO api_keys (id, tenant_id, site_id, name, secret_hash)"
            " VALUES (%s, %s, %s, 'bench', %s)",
            (key_id, tenant, site, api_keys.hash_secret(secret)),
        )
    return api_keys.format_key(tenant, key_id, secret)


def event_bodies(
    ids: dict[str, str], vectors: np.ndarray, count: int, rng: np.random.Generator
) -> list[bytes]:
    """``count`` events, each with its own event_id: ~70 % near a seeded customer (cosine 0.8,
    well above the match threshold), ~30 % random faces (new customers)."""
    bodies = []
    for i in range(count):
        returning = rng.random() >= NEW_SHARE
        vec = near(rng, vectors[rng.integers(len(vectors))], 0.8) if returning else unit_rows(rng, 1)[0]
        at = recent(hours_ago=10 - (i * 10 / count), minute=i % 60)
        body = face_event(ids["site"], ids["camera"], at, vec)
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def recent(hours_ago: float, minute: int = 0) -> str:
    """A capture time inside the server's accepted window (it refuses times days old)."""
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    return at.replace(minute=minute, second=0, microsecond=0).isoformat()


def worker_token(url: str, api_key: str) -> str:
    response = httpx.post(f"{url}/v1/auth/token", json={"grant_type": "api_key", "api_key": api_key})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def warm_up(url: str, token: str, bodies: list[bytes]) -> None:
    """Open the index, the connection pool and the prepared statements outside the measurement,
    over CONCURRENCY connections: with ``--workers N`` each worker should get some (the kernel
    hands connections to whichever worker accepts first), else a worker loads the tenant (a
    second at 100 k) inside the measured window."""
    asyncio.run(load_python(url, token, bodies, quiet=True))
    time.sleep(1)  # the int8 copy of the loaded tenants (made in the background)


class RunCpu:
    """CPU time of this run's own processes only (the box is shared): the server on ``port`` with
    its worker processes, and the PostgreSQL backends connected to ``database``; from /proc."""

    def __init__(self, port: int, database: str) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._port, self._database = f"--port {port}", f" {database} "
        self._start: dict[int, tuple[str, int]] = {}
        self._started = 0.0

    def _sample(self) -> dict[int, tuple[str, int]]:
        procs: dict[int, tuple[str, int, int]] = {}  # pid -> (cmdline, ppid, ticks)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended meanwhile
                continue
            fields = stat.rsplit(")", 1)[1].split()
            procs[int(entry.name)] = (cmdline, int(fields[1]), int(fields[11]) + int(fields[12]))
        servers = {
            pid for pid, (cmd, _, _) in procs.items() if "appliance serve" in cmd and self._port in cmd
        }
        found: dict[int, tuple[str, int]] = {}
        for pid, (cmd, ppid, ticks) in procs.items():
            if pid in servers or ppid in servers:
                found[pid] = ("api", ticks)
            elif cmd.startswith("postgres:") and self._database in cmd:
                found[pid] = ("postgres", ticks)
            elif MILVUS_URI and "milvus" in cmd and " run standalone" in cmd:
                found[pid] = ("milvus", ticks)
        return found

    def start(self) -> None:
        self._start, self._started = self._sample(), time.monotonic()

    def stop(self) -> tuple[dict[str, float], float]:
        """CPU seconds per group since ``start`` (a backend that ended meanwhile is missed) and
        the wall time."""
        end, wall = self._sample(), time.monotonic() - self._started
        spent: dict[str, float] = {"api": 0.0, "postgres": 0.0, "milvus": 0.0}
        for pid, (group, ticks) in end.items():
            before = self._start.get(pid)
            spent[group] += (ticks - (before[1] if before is not None else 0)) / self._ticks
        return spent, wall


def load_wrk(
    url: str, token: str, bodies: list[bytes], seconds: int, database: str
) -> tuple[float, dict[str, float]]:
    """wrk (C) keeps CONCURRENCY connections busy, so the client costs the server little CPU.

    With ``RATE``, open loop instead: each connection (one wrk thread each) sends on a fixed
    schedule, and latency counts from when a request was due (ingest.lua)."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        threads = CONCURRENCY if RATE else 1
        # one file per wrk thread: no two threads send the same event (a replay is the cheap path)
        for index in range(threads):
            Path(tmp, f"bodies-{index + 1}.jsonl").write_bytes(b"\n".join(bodies[index::threads]) + b"\n")
        env = {**os.environ, "INGEST_BODIES": str(Path(tmp, "bodies-%d.jsonl")), "INGEST_TOKEN": token}
        duration = seconds
        if RATE:
            # every thread loads its events before the common start (wrk starts threads one by one)
            env.update(
                INGEST_RATE=str(RATE),
                INGEST_CONNECTIONS=str(CONCURRENCY),
                INGEST_START_MS=str(int((time.time() + START_DELAY) * 1000)),
            )
            if TRACE:
                env["INGEST_TRACE"] = str(Path(TRACE).absolute())
            duration = seconds + math.ceil(START_DELAY)
        command = ["wrk", f"-t{threads}", f"-c{CONCURRENCY}", f"-d{duration}s", "--timeout", "10s"]
        command += ["-s", str(Path(__file__).with_name("ingest.lua")), url]
        meter = ProcessCpu()
        meter.start()
        own = RunCpu(int(url.rsplit(":", 1)[1]), database)
        own.start()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu, wall = meter.stop()
        own_cpu, _ = own.stop()
        # wrk has exited by now, so /proc no longer shows it: its own rusage does
        cpu["wrk"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    line = next((x for x in out.splitlines() if x.startswith("INGEST ")), None)
    if line is None:
        raise BenchError(f"wrk printed no INGEST line:\n{out}")
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    if int(fields["exhausted"]):
        raise BenchError("wrk ran out of distinct events; raise the body count")
    requests = int(fields["requests"])
    # paced: from the common start to the last answer (wrk's own clock starts before that)
    elapsed = float(fields["window_ms"]) / 1000 if RATE else float(fields["seconds"])
    returning = requests - int(fields["new"]) - int(fields["uncertain"])
    offered = f" paced={RATE:g}/s (latency from each request's due time)" if RATE else ""
    print(
        f"  events={requests} concurrency={CONCURRENCY}{offered} elapsed={elapsed:.1f}s"
        f" statuses={{{fields['statuses']}}} socket errors={fields['errors']}"
    )
    print(
        f"  outcomes new={fields['new']} returning={returning} uncertain={fields['uncertain']}"
        " (sent: ~70% returning, ~30% new)"
    )
    p = {k: float(fields[k]) for k in ("p50", "p95", "p99", "max")}
    print(
        f"  POST /v1/events/face               n={requests}  p50={p['p50']:7.2f} ms  p95={p['p95']:7.2f} ms"
        f"  p99={p['p99']:7.2f} ms  max={p['max']:7.2f} ms"
    )
    if not fields["statuses"] or any(not s.startswith("200=") for s in fields["statuses"].split(",")):
        raise BenchError(f"some events failed: {fields['statuses']}")
    rate = requests / elapsed
    print(f"  throughput                         {rate:8.1f} events/s")
    per_event = "  ".join(
        f"{group}={cpu.get(group, 0.0) / requests * 1000:.2f}" for group in dict(CPU_GROUPS) if cpu.get(group)
    )
    busy = sum(cpu.values()) / (wall * (os.cpu_count() or 1))
    print(f"  CPU per event (ms)                 {per_event}  (all cores {busy:.0%} busy)")
    # only this run's server and database backends: comparable while others use the box
    p["cpu_api_ms"] = own_cpu["api"] / requests * 1000
    p["cpu_pg_ms"] = own_cpu["postgres"] / requests * 1000
    p["cpu_milvus_ms"] = own_cpu["milvus"] / requests * 1000
    milvus = f"  milvus={p['cpu_milvus_ms']:.2f}" if MILVUS_URI else ""
    print(
        f"  CPU per event, this run only (ms)  api={p['cpu_api_ms']:.2f}"
        f"  postgres={p['cpu_pg_ms']:.2f}{milvus}"
        f"  total={p['cpu_api_ms'] + p['cpu_pg_ms'] + p['cpu_milvus_ms']:.2f}"
    )
    return rate, p


async def load_python(
    url: str, token: str, bodies: list[bytes], quiet: bool = False
) -> tuple[float, dict[str, float]]:
    """The fallback client when wrk is missing (it competes with the server for CPU)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def client() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post("/v1/events/face", content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    if quiet:
        if set(statuses) != {200}:
            raise BenchError(f"seeding events failed: {statuses}")
        return len(bodies) / elapsed, {}
    print(f"  events={len(bodies)} concurrency={CONCURRENCY} elapsed={elapsed:.1f}s statuses={statuses}")
    p = print_latency("POST /v1/events/face", latencies)
    rate = len(bodies) / elapsed
    print(f"  throughput                         {rate:8.1f} events/s")
    return rate, p


def print_server_stages(url: str) -> None:
    """Where the server says the time went (its /metrics, one worker's view; warm-up included)."""
    sums: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("appliance_") and ("_sum" in line or "_count" in line):
            name, _, value = line.rpartition(" ")
            sums[name] = float(value)

    def mean(metric: str, labels: str = "") -> str:
        count = sums.get(f"{metric}_count{labels}", 0.0)
        return f"{sums.get(f'{metric}_sum{labels}', 0.0) / count:.3g}" if count else "-"

    stages = []
    for stage in ("search", "new_customer", "record"):
        label = f'{{stage="{stage}"}}'
        stages.append(f"{stage}={mean('appliance_ingest_stage_seconds', label)} s")
    print(f"  server stage means                 {'  '.join(stages)}")
    recorded = sums.get('appliance_ingest_stage_seconds_count{stage="record"}', 0.0)
    print(f"  server recorded                    {recorded:.0f} events (warm-up included)")
    print(
        f"  server batches (mean)              search={mean('appliance_vector_search_batch_queries')}"
        f" queries  new-customer={mean('appliance_new_customer_batch_faces')} faces"
    )


@contextlib.contextmanager
def dropped_collection(settings: Any) -> Iterator[None]:
    """On a Milvus server, drop the run's collection afterwards."""
    try:
        yield
    finally:
        if settings.milvus_uri:
            from appliance.vectors.milvus_store import MilvusStore

            store = MilvusStore(settings.milvus_uri, DIM, collection=settings.milvus_collection)
            store.drop_collection()
            store.close()


def run_case(customers: int, seconds: int, workers: int, client: str) -> None:
    rng = np.random.default_rng(customers)
    backend = "Milvus server" if MILVUS_URI else "embedded index"
    print(
        f"\n== ingest, {customers:,} customers seeded ({SEED}), {DIM}-D, {backend},"
        " 70% returning / 30% new =="
    )
    overrides: dict[str, Any] = dict(embedding_dim=DIM, rate_limit_ingest_per_second=0)
    if MILVUS_URI:  # a server is shared between runs: each run gets its own collection, dropped after
        overrides.update(milvus_uri=MILVUS_URI, milvus_collection=f"bench_{uuid.uuid4().hex[:10]}")
    # --set values hold for the seed too: it creates the collection (its index type, nlist)
    for key, value in SERVER_SETTINGS.items():
        overrides[key.removeprefix("APPLIANCE_").lower()] = value
    with (
        bench_database("ingest", **overrides) as settings,
        dropped_collection(settings),
    ):
        t0 = time.perf_counter()
        ids, vectors = seed(settings, customers, rng)
        print(f"  seeded in {time.perf_counter() - t0:.1f}s")
        # wrk: enough distinct events for the run at up to 1200 events/s; python: a fixed count.
        count = seconds * (1200 if client == "wrk" else 60)
        bodies = event_bodies(ids, vectors, count + WARM_UP, rng)
        extra = {"APPLIANCE_MILVUS_NPROBE": str(NPROBE)} if NPROBE else {}
        if MILVUS_URI:
            extra["APPLIANCE_MILVUS_URI"] = MILVUS_URI
            extra["APPLIANCE_MILVUS_COLLECTION"] = settings.milvus_collection
        extra.update(SERVER_SETTINGS)
        with serve(
            settings,
            workers=workers,
            APPLIANCE_EMBEDDING_DIM=str(DIM),
            APPLIANCE_LOG_LEVEL="WARNING",
            **extra,
        ) as url:
            token = worker_token(url, ids["api_key"])
            if SEED == "api":
                seed_through_api(url, token, ids, vectors, settings)
            warm_up(url, token, bodies[:WARM_UP])
            if client == "wrk":
                database = settings.database_url.rsplit("/", 1)[1]
                rate, p = load_wrk(url, token, bodies[WARM_UP:], seconds, database)
            else:
                rate, p = asyncio.run(load_python(url, token, bodies[WARM_UP:]))
            print_server_stages(url)
            floor = healthz_floor(url) if client == "wrk" and not RATE else None
    targets = {20_000: (800, 30, 0.25), 100_000: (500, 50, 0.15)}
    case = (
        f"ingest_{customers}_{SEED}"
        + ("_milvus" if MILVUS_URI else "")
        + (f"_at_{RATE:g}_per_s" if RATE else "")
    )
    goal = targets.get(customers)
    target = f"target=>={goal[0]}/s,p95<{goal[1]}ms" if goal else "target=report"
    print(f"RESULT {case}_throughput={rate:.1f} events/s {target}")
    print(f"RESULT {case}_p95={p['p95']:.1f} ms {target}")
    if "cpu_api_ms" in p:
        cpu = p["cpu_api_ms"] + p["cpu_pg_ms"] + p["cpu_milvus_ms"]
        parts = f"api={p['cpu_api_ms']:.2f} postgres={p['cpu_pg_ms']:.2f}"
        parts += f" milvus={p['cpu_milvus_ms']:.2f}" if MILVUS_URI else ""
        print(f"RESULT {case}_cpu_per_event={cpu:.2f} ms ({parts}) target=report")
    if floor:
        share = f"target=>={goal[2]:.0%}" if goal else "target=report"
        print(f"  GET /healthz (same wrk, same server) {floor:8.1f} requests/s")
        print(f"RESULT {case}_share_of_healthz={rate / floor:.1%} {share}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append", help="seeded customers (repeatable)")
    parser.add_argument("--seconds", type=int, default=20, help="measured load duration")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (appliance serve)")
    parser.add_argument("--client", choices=["wrk", "python"], default=None, help="default: wrk if installed")
    parser.add_argument("--quick", action="store_true", help="2 k customers, 5 s")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="client connections")
    parser.add_argument("--nprobe", type=int, default=None, help="APPLIANCE_MILVUS_NPROBE for the server")
    parser.add_argument("--new-share", type=float, default=NEW_SHARE, help="share of never-seen faces")
    parser.add_argument(
        "--rate", type=float, default=None, help="paced at this many events/s (wrk only), not flat out"
    )
    parser.add_argument(
        "--trace", default=None, metavar="FILE", help="with --rate: each request's due time and latency"
    )
    parser.add_argument(
        "--milvus-uri", default=None, help="a Milvus server (http://host:19530) instead of the embedded index"
    )
    parser.add_argument(
        "--seed",
        choices=["bulk", "api"],
        default="bulk",
        help="customers by COPY, or as events through the API",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="APPLIANCE_X=VALUE", help="a server setting, repeatable"
    )
    args = parser.parse_args()
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("APPLIANCE_"):
            parser.error(f"--set takes APPLIANCE_NAME=VALUE, got {pair!r}")
        SERVER_SETTINGS[key] = value
    globals()["NEW_SHARE"] = args.new_share
    globals()["RATE"] = args.rate
    globals()["TRACE"] = args.trace
    globals()["MILVUS_URI"] = args.milvus_uri
    globals()["SEED"] = args.seed
    globals()["NPROBE"] = args.nprobe
    globals()["CONCURRENCY"] = args.concurrency
    require_postgres()
    client = args.client or ("wrk" if shutil.which("wrk") else "python")
    if args.quick:
        run_case(2000, 5, args.workers, client)
        return
    for customers in args.customers or [20_000, 100_000]:
        run_case(customers, args.seconds, args.workers, client)


if __name__ == "__main__":
    main_guard(main)
