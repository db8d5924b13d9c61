"""Ingest throughput and latency: real PostgreSQL + Milvus Lite, 512-D, N customers seeded in one
tenant, 70 % returning / 30 % new events, 16 concurrent clients on this machine.

    python bench/bench_ingest.py                 # 20 k and 100 k customers
    python bench/bench_ingest.py --customers 20000 --events 3000
    python bench/bench_ingest.py --quick         # 2 k customers, 600 events

Target at 20 k customers: >= 300 events/s with p95 < 50 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
import uuid
from typing import Any

import httpx
import numpy as np
import psycopg

from _common import bench_database, main_guard, print_latency, require_postgres, serve

DIM = 512
CONCURRENCY = 16


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(rng: np.random.Generator, base: np.ndarray, cosine: float) -> np.ndarray:
    noise = rng.standard_normal(DIM).astype(np.float32)
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    out = cosine * base + np.sqrt(1 - cosine**2) * noise
    return out / np.linalg.norm(out)


def seed(settings: Any, customers: int, rng: np.random.Generator) -> tuple[dict[str, str], np.ndarray]:
    """Tenant, site, camera and API key through the admin services; customers + exemplars with
    COPY; their vectors straight into the (not yet served) Milvus Lite file."""
    from appliance.db.types import embedding_bytes
    from appliance.vectors.base import VectorItem
    from appliance.vectors.factory import vector_index_from_settings

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
        with conn.cursor().copy(
            "COPY customers (id, tenant_id, visit_count, exemplar_count) FROM STDIN"
        ) as copy:
            for cid in ids:
                copy.write_row((cid, tenant, 0, 1))
        buf = io.StringIO()
        with conn.cursor().copy(
            "COPY customer_exemplars (id, tenant_id, customer_id, embedding, quality, created_at) FROM STDIN"
        ) as copy:
            for eid, cid, vec in zip(exemplar_ids, ids, vectors, strict=True):
                copy.write_row((eid, tenant, cid, embedding_bytes(vec), 0.8, "2026-01-01"))
        del buf
    index = vector_index_from_settings(settings, DIM)
    index.ensure_collection()
    batch = 2000
    for start in range(0, customers, batch):
        index.upsert(
            tenant,
            [
                VectorItem(id=exemplar_ids[i], customer_id=ids[i], vector=vectors[i].tolist())
                for i in range(start, min(start + batch, customers))
            ],
        )
    index.flush()
    index.close()
    key = make_api_key(settings, tenant, site)
    return {"tenant": str(tenant), "site": str(site), "camera": str(camera), "api_key": key}, vectors


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


async def load(
    url: str, ids: dict[str, str], vectors: np.ndarray, events: int, rng: np.random.Generator
) -> tuple[float, dict[str, float]]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        token = (
            await http.post("/v1/auth/token", json={"grant_type": "api_key", "api_key": ids["api_key"]})
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        bodies = []
        for i in range(events):
            returning = rng.random() < 0.7
            vec = near(rng, vectors[rng.integers(len(vectors))], 0.8) if returning else unit_rows(rng, 1)[0]
            bodies.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "site_id": ids["site"],
                    "camera_id": ids["camera"],
                    "captured_at": f"2026-11-20T{8 + i * 10 // events:02d}:{i % 60:02d}:00+01:00",
                    "embedding": [float(x) for x in vec],
                    "det_score": 0.9,
                    "bbox": [10, 10, 100, 120],
                    "landmarks": [[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]],
                    "quality": 0.8,
                    "is_staff_local": False,
                    "model": {"name": "bench", "version": "1"},
                }
            )
        # Warm-up: open the index and the connection pool outside the measurement.
        for body in bodies[:20]:
            (await http.post("/v1/events/face", json=body, headers=headers)).raise_for_status()
        work = bodies[20:]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        outcomes = {"new": 0, "returning": 0, "uncertain": 0}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for body in work:
            queue.put_nowait(body)

        async def client() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post("/v1/events/face", json=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    answer = response.json()
                    kind = (
                        "new"
                        if answer["is_new_customer"]
                        else "uncertain"
                        if answer["uncertain"]
                        else "returning"
                    )
                    outcomes[kind] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    rate = len(work) / elapsed
    print(f"  events={len(work)} concurrency={CONCURRENCY} elapsed={elapsed:.1f}s statuses={statuses}")
    print(f"  outcomes {outcomes} (sent: ~70% returning, ~30% new)")
    p = print_latency("POST /v1/events/face", latencies)
    print(f"  throughput                         {rate:8.1f} events/s")
    return rate, p


def run_case(customers: int, events: int) -> None:
    rng = np.random.default_rng(customers)
    print(f"\n== ingest, {customers:,} customers seeded, {DIM}-D, 70% returning / 30% new ==")
    with bench_database("ingest", embedding_dim=DIM, rate_limit_ingest_per_second=1_000_000) as settings:
        t0 = time.perf_counter()
        ids, vectors = seed(settings, customers, rng)
        print(f"  seeded in {time.perf_counter() - t0:.1f}s")
        with serve(settings, APPLIANCE_EMBEDDING_DIM=str(DIM), APPLIANCE_LOG_LEVEL="WARNING") as url:
            rate, p = asyncio.run(load(url, ids, vectors, events, rng))
    target = "target=>=300/s,p95<50ms" if customers == 20_000 else "target=report"
    print(f"RESULT ingest_{customers}_throughput={rate:.1f} events/s {target}")
    print(f"RESULT ingest_{customers}_p95={p['p95']:.1f} ms {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    require_postgres()
    if args.quick:
        run_case(2000, 600)
        return
    for customers in args.customers or [20_000, 100_000]:
        run_case(customers, args.events)


if __name__ == "__main__":
    main_guard(main)
