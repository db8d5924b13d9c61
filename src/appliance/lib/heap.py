"""Keep long-lived objects out of the garbage collector's full passes.

A full (generation 2) collection walks every container object the process holds. After start-up
that is mostly what imports made: modules, classes, functions, protobuf descriptors of pymilvus
and gRPC, SQLAlchemy's and Litestar's machinery, none of which ever becomes garbage. Under ingest
load each full pass stopped the API's event loop long enough to show in the ingest p95 (ADR 0008),
and every request in flight waited. ``gc.freeze()`` moves everything alive now into
a permanent generation that collections skip; objects made later are collected as before.

It is called once start-up is done and again when a lazily opened part (the vector index and its
client libraries) has been loaded. The cost: objects alive then that later become cyclic garbage
are never freed, and each call runs one full collection first. Right after start-up that is next
to nothing, but a process that builds and drops many apps (the test suite) would pile them up;
so it only acts in processes that asked for it with :func:`enable` (the server's ASGI module and
the Lite sidecar).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("appliance.heap")
_enabled = False


def enable(on: bool = True) -> None:
    """Let :func:`freeze_long_lived` act in this process (a long-running server)."""
    global _enabled
    _enabled = on


def freeze_long_lived(reason: str) -> int:
    """Collect, then freeze what survived (when enabled); how many objects are frozen now."""
    if not _enabled:
        return gc.get_freeze_count()
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug(
        "heap frozen",
        extra={
            "reason": reason,
            "frozen_objects": frozen,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return frozen
