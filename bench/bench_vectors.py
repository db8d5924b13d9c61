"""Vector search on Milvus Lite: 100,000 random unit vectors (512-D and 128-D) in one tenant partition.

For each dimension: upsert rate; single-vector search latency before the flush (rows still in
Lite's memtable, searched by brute force in Python) and after it (flushed segments with their
IVF_FLAT index built); a batched search (16 vectors per call, as ``SearchBatcher`` sends them)
and its per-query cost; the cost of a small un-flushed tail (the most the auto-flush policy
leaves: 63 rows at 512-D, 255 at 128-D); and recall@1 of a neighbour at cosine 0.5 (a re-identified
face is at 0.4-0.7) with the configured nprobe. Runs on the real ``MilvusIndex`` in a temp dir.

    python bench/bench_vectors.py            # 100,000 vectors per dimension
    python bench/bench_vectors.py --quick    # 10,000
    python bench/bench_vectors.py --dims 512 --index-type FLAT
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from _common import add_ivf_arguments, lite_index, main_guard, percentiles, wait_for_lite_background
from appliance.vectors.base import VectorItem
from appliance.vectors.milvus import lite_auto_flush_rows

BATCH = 16
NEIGHBOUR_COSINE = 0.5


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray[Any, Any]:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    out: np.ndarray[Any, Any] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def neighbours(rng: np.random.Generator, base: np.ndarray[Any, Any], cosine: float) -> np.ndarray[Any, Any]:
    """Unit vectors at exactly ``cosine`` similarity to each row of ``base``."""
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise -= (noise * base).sum(axis=1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out: np.ndarray[Any, Any] = cosine * base + np.sqrt(1 - cosine**2) * noise
    return out


def timed_ms(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def bench_dim(dim: int, n: int, reps: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    rng = np.random.default_rng(dim)
    index = lite_index(tmp, f"lite_{dim}", dim, args)
    r: dict[str, float] = {}
    try:
        index.ensure_collection()
        tenant = uuid.uuid4()
        vectors = unit(rng, n, dim)
        ids = [uuid.uuid4() for _ in range(n)]
        customer = uuid.uuid4()
        start = time.perf_counter()
        for lo in range(0, n, 1000):
            index.upsert(
                tenant,
                [VectorItem(ids[i], customer, vectors[i].tolist()) for i in range(lo, min(n, lo + 1000))],
            )
        r["upsert_per_s"] = n / (time.perf_counter() - start)
        picks = rng.choice(n, size=max(reps, BATCH * 4), replace=False)

        def single(count: int) -> list[float]:
            return [timed_ms(index.search, tenant, [vectors[i].tolist()], 5) for i in picks[:count]]

        def batched(count: int) -> list[float]:
            out = []
            for b in range(count):
                chunk = picks[(b * BATCH) % len(picks) :][:BATCH]
                out.append(timed_ms(index.search, tenant, vectors[chunk].tolist(), 5))
            return out

        few = max(3, reps // 20)  # un-flushed searches are slow: fewer samples
        r["before_single_p50"] = percentiles(single(few))["p50"]
        r["before_batch_p50"] = percentiles(batched(few))["p50"]
        r["flush_s"] = timed_ms(index.flush) / 1000
        r["cold_single_p50"] = percentiles(single(few))["p50"]
        r["index_build_s"] = wait_for_lite_background(index)
        after = percentiles(single(reps))
        r["after_single_p50"], r["after_single_p95"] = after["p50"], after["p95"]
        batch = percentiles(batched(max(10, reps // 4)))
        r["after_batch_p50"], r["after_batch_p95"] = batch["p50"], batch["p95"]

        # recall@1 of a face-like neighbour, and the exact self-match
        probe = picks[:200]
        near = neighbours(rng, vectors[probe], NEIGHBOUR_COSINE)
        found = index.search(tenant, near.tolist(), 1)
        r["recall_at_1"] = float(
            np.mean([bool(h) and h[0].id == ids[i] for h, i in zip(found, probe, strict=True)])
        )
        self_hits = index.search(tenant, vectors[probe[:50]].tolist(), 1)
        r["self_top1"] = float(np.mean([h[0].id == ids[i] for h, i in zip(self_hits, probe, strict=False)]))

        tail = unit(rng, lite_auto_flush_rows(dim) - 1, dim)
        index.upsert(tenant, [VectorItem(uuid.uuid4(), customer, v.tolist()) for v in tail])
        r["tail_single_p50"] = percentiles(single(reps))["p50"]
        r["count"] = index.count(tenant)
    finally:
        index.close()
    return r


def run() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 vectors instead of 100,000")
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 128])
    parser.add_argument("--index-type", default="IVF_FLAT", help="IVF_FLAT (default), FLAT, AUTOINDEX, HNSW")
    add_ivf_arguments(parser)
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    reps = 60 if args.quick else 100
    ivf = f" nlist={args.nlist} nprobe={args.nprobe}" if args.index_type.upper().startswith("IVF") else ""
    print(f"bench_vectors: Milvus Lite, {n:,} vectors per dimension, one partition, {args.index_type}{ivf}")
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-vectors-", ignore_cleanup_errors=True) as tmp:
        for dim in args.dims:
            started = time.perf_counter()
            results[dim] = bench_dim(dim, n, reps, args, Path(tmp))
            print(f"  {dim}-D done in {time.perf_counter() - started:.0f} s")

    rows = [
        ("upsert rate (rows/s)", "upsert_per_s", "{:,.0f}"),
        ("search 1 vec, before flush p50 (ms)", "before_single_p50", "{:.1f}"),
        ("search 16 vec, before flush p50 (ms)", "before_batch_p50", "{:.1f}"),
        ("flush (s)", "flush_s", "{:.2f}"),
        ("search 1 vec, right after flush p50 (ms)", "cold_single_p50", "{:.1f}"),
        ("background index build (s)", "index_build_s", "{:.2f}"),
        ("search 1 vec, indexed p50 (ms)", "after_single_p50", "{:.2f}"),
        ("search 1 vec, indexed p95 (ms)", "after_single_p95", "{:.2f}"),
        ("search 16 vec, indexed p50 (ms)", "after_batch_p50", "{:.2f}"),
        ("  per query in the batch (ms)", "per_query", "{:.2f}"),
        ("search 1 vec, + auto-flush tail p50 (ms)", "tail_single_p50", "{:.2f}"),
        (f"recall@1, neighbour at cos {NEIGHBOUR_COSINE}", "recall_at_1", "{:.3f}"),
        ("exact vector is top-1", "self_top1", "{:.3f}"),
        ("count", "count", "{:,.0f}"),
    ]
    for r in results.values():
        r["per_query"] = r["after_batch_p50"] / BATCH
    width = max(len(label) for label, _, _ in rows)
    print(f"  {'':<{width}}" + "".join(f"{f'{d}-D':>12}" for d in results))
    for label, key, fmt in rows:
        print(f"  {label:<{width}}" + "".join(f"{fmt.format(r[key]):>12}" for r in results.values()))
    for dim, r in results.items():
        print(
            f"RESULT vectors_{dim}d_search_p50={r['after_single_p50']:.2f} ms "
            f"(indexed, {n} vectors, p95={r['after_single_p95']:.2f}, "
            f"before flush={r['before_single_p50']:.1f})"
        )
        print(
            f"RESULT vectors_{dim}d_batch16_per_query={r['per_query']:.2f} ms "
            f"(call p50={r['after_batch_p50']:.2f}, recall@1 cos{NEIGHBOUR_COSINE}={r['recall_at_1']:.3f})"
        )


if __name__ == "__main__":
    main_guard(run)
