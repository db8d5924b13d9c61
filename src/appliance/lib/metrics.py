"""Prometheus metrics of the recognition pipeline (served at /metrics with the request metrics).

Where an ingested face spends its time, and how well the batching works: the figures an
operator needs when ingest slows down (runbook: docs/runbooks/ingest-latency.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

INGEST_STAGE_SECONDS = Histogram(
    "appliance_ingest_stage_seconds",
    "Time one face event spent in each ingest stage, waits included",
    ["stage"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
"""Stages: ``search`` (vector index, batch wait included), ``new_customer`` (creation batch,
wait included; new faces only, whose event it records too), ``record`` (the write transaction
of every other event)."""

VECTOR_TENANT_LOADS = Counter(
    "appliance_vector_tenant_loads", "Tenants whose exemplars this process loaded from PostgreSQL"
)
VECTOR_CACHE_BYTES = Gauge("appliance_vector_cache_bytes", "Memory held by the embedded vector index")
VECTOR_INDEX_SYNCED = Counter(
    "appliance_vector_index_synced_changes", "Exemplar writes and deletes applied to the Milvus index"
)

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)

VECTOR_SEARCH_BATCH = Histogram(
    "appliance_vector_search_batch_queries", "Query vectors per vector-index search call", buckets=BATCH_SIZES
)
NEW_CUSTOMER_BATCH = Histogram(
    "appliance_new_customer_batch_faces", "Faces per new-customer creation transaction", buckets=BATCH_SIZES
)


@contextmanager
def ingest_stage(stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        INGEST_STAGE_SECONDS.labels(stage).observe(time.perf_counter() - started)
