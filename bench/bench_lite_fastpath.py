"""Milvus Lite search: stock executor vs ``appliance.vectors.lite_fastpath`` (vectorised masks).

Per size (20,000 and 100,000 random 512-D unit vectors in one tenant partition, plus a second
tenant partition a fifth that size): upsert through the real ``MilvusIndex`` (in-process Lite),
flush, delete a few rows of each tenant, flush again, wait for Lite's background compaction and
index build. Then, alternating stock and fast path in rounds on the same data, the per-call
latency of ``MilvusIndex.search`` for batches of 1 and 16 query vectors (p50/p95), the speed-up,
and a check that both return identical hits for the same queries.

    python bench/bench_lite_fastpath.py                 # 20,000 and 100,000 rows
    python bench/bench_lite_fastpath.py --quick         # 5,000 and 20,000 rows, fewer calls
    python bench/bench_lite_fastpath.py --sizes 50000 --index-type FLAT
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from _common import (
    BenchError,
    add_ivf_arguments,
    lite_index,
    main_guard,
    percentiles,
    wait_for_lite_background,
)
from appliance.vectors import lite_fastpath
from appliance.vectors.base import VectorItem
from appliance.vectors.milvus import MilvusIndex

DIM = 512
BATCHES = (1, 16)
TOP_K = 5


def unit(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    out: np.ndarray[Any, Any] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def set_mode(fast: bool) -> None:
    if fast:
        if not lite_fastpath.install():
            raise BenchError("lite_fastpath.install() refused (milvus-lite version or source changed)")
    else:
        lite_fastpath.uninstall()


def load(index: MilvusIndex, tenant: uuid.UUID, rng: np.random.Generator, n: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    customer = uuid.uuid4()
    for lo in range(0, n, 5000):
        vectors = unit(rng, min(n, lo + 5000) - lo)
        index.upsert(tenant, [VectorItem(ids[lo + i], customer, v.tolist()) for i, v in enumerate(vectors)])
    return ids


def bench_size(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    rng = np.random.default_rng(n)
    index = lite_index(tmp, f"fastpath_{n}", DIM, args)
    r: dict[str, float] = {}
    try:
        index.ensure_collection()
        tenant, other = uuid.uuid4(), uuid.uuid4()
        started = time.perf_counter()
        ids = load(index, tenant, rng, n)
        other_ids = load(index, other, rng, max(1, n // 5))
        index.flush()
        index.delete(tenant, [ids[i] for i in rng.choice(n, size=25, replace=False)])
        index.delete(other, other_ids[:5])
        index.flush()
        r["load_s"] = time.perf_counter() - started
        r["background_s"] = wait_for_lite_background(index)
        print(f"  {n:,} rows: loaded in {r['load_s']:.0f} s, background work {r['background_s']:.0f} s")

        queries = unit(rng, 4096)
        # identical hits, stock vs fast, on the same queries
        mismatches = 0
        for b in range(args.check):
            chunk = queries[b * 16 : (b + 1) * 16].tolist()
            set_mode(False)
            want = index.search(tenant, chunk, TOP_K)
            set_mode(True)
            got = index.search(tenant, chunk, TOP_K)
            mismatches += got != want
        r["mismatches"] = mismatches

        samples: dict[tuple[bool, int], list[float]] = {(f, b): [] for f in (False, True) for b in BATCHES}
        cursor = 0
        for _ in range(args.rounds):
            for fast in (False, True):
                set_mode(fast)
                for batch in BATCHES:
                    for _ in range(args.calls):
                        chunk = queries[cursor % 4000 : cursor % 4000 + batch].tolist()
                        cursor += batch
                        t0 = time.perf_counter()
                        index.search(tenant, chunk, TOP_K)
                        samples[(fast, batch)].append((time.perf_counter() - t0) * 1000)
        for (fast, batch), values in samples.items():
            p = percentiles(values)
            mode = "fast" if fast else "stock"
            r[f"{mode}_b{batch}_p50"], r[f"{mode}_b{batch}_p95"] = p["p50"], p["p95"]
        r["fallbacks"] = lite_fastpath.fallback_count()
    finally:
        lite_fastpath.uninstall()
        index.close()
    return r


def run() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 and 20,000 rows, fewer calls")
    parser.add_argument("--sizes", type=int, nargs="+", help="rows in the searched partition")
    parser.add_argument("--index-type", default="IVF_FLAT", help="IVF_FLAT (default), FLAT, HNSW")
    add_ivf_arguments(parser)
    args = parser.parse_args()
    sizes = args.sizes or ([5_000, 20_000] if args.quick else [20_000, 100_000])
    args.rounds, args.calls, args.check = (4, 10, 8) if args.quick else (6, 25, 24)
    print(
        f"bench_lite_fastpath: Milvus Lite {lite_fastpath.SUPPORTED_VERSION} in-process, {DIM}-D, "
        f"{args.index_type}, top-{TOP_K}, sizes {', '.join(f'{s:,}' for s in sizes)}; "
        f"{args.rounds} rounds x {args.calls} calls per mode and batch"
    )
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lite-fastpath-", ignore_cleanup_errors=True) as tmp:
        for n in sizes:
            results[n] = bench_size(n, args, Path(tmp))

    head = ("rows", "batch", "stock p50", "fast p50", "stock p95", "fast p95", "x p50")
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(head, (8, 5, 10, 9, 10, 9, 6), strict=True)) + "  (ms)")
    for n, r in results.items():
        for batch in BATCHES:
            s50, f50 = r[f"stock_b{batch}_p50"], r[f"fast_b{batch}_p50"]
            s95, f95 = r[f"stock_b{batch}_p95"], r[f"fast_b{batch}_p95"]
            print(f"  {n:>8,} {batch:>5} {s50:>10.2f} {f50:>9.2f} {s95:>10.2f} {f95:>9.2f} {s50 / f50:>6.2f}")
        print(f"  {n:>8,} identical hits: {args.check - int(r['mismatches'])}/{args.check} batches")
    for n, r in results.items():
        for batch in BATCHES:
            s50, f50 = r[f"stock_b{batch}_p50"], r[f"fast_b{batch}_p50"]
            print(
                f"RESULT lite_fastpath_{n // 1000}k_batch{batch}_p50={f50:.2f} ms target=report "
                f"(stock {s50:.2f}, p95 {r[f'fast_b{batch}_p95']:.2f} vs {r[f'stock_b{batch}_p95']:.2f})"
            )
            print(
                f"RESULT lite_fastpath_{n // 1000}k_batch{batch}_speedup={s50 / f50:.2f} x "
                f"target=report (p50 stock/fast; mismatching batches {int(r['mismatches'])}, "
                f"fallbacks to stock {int(r['fallbacks'])})"
            )


if __name__ == "__main__":
    main_guard(run)
