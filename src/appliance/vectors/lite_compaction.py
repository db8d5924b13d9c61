"""Milvus Lite compaction that does not stop searches (installed in the Lite sidecar).

Milvus Lite 3.2.2 merges a partition's small data files in a background thread (size-tiered
compaction). The stock code holds the collection's maintenance lock from reading the first input
file until the merged segment is loaded, and every search takes that lock for its read snapshot.
So each compaction stopped all searches for as long as it ran. Under ingest load (a flush every
5 s) the merges grew to about a second, and each one showed as a one-second stall of every
request in flight (bench_ingest at 20 k customers: p99 0.8-1.3 s; ADR 0006).

:func:`compact_and_index` does the same merge in three steps:

1. Under the lock: choose the files (stock rules) and freeze the tombstones.
2. Without the lock: read the files, keep each pk's newest row (max ``_seq``), drop rows deleted
   as of the frozen tombstones, write the merged file(s) and load them as segments.
3. Under the lock: check the chosen files are still listed, swap them for the merged ones in the
   manifest and in the segment cache, and collect tombstones (stock rule). After that, and
   without the lock, remove the old files.

Why this gives the stock result:
- The input files are immutable, and only this single background worker removes files.
- Rows keep their ``_seq``. A delete that arrives during step 2 is a tombstone with a larger seq
  than the row, so it still hides the row in the merged file. Tombstone GC runs after the swap,
  against the merged files' seq ranges, as in stock.
- A flush during step 2 only adds newer files, and the swap leaves them alone.
- A crash between steps 2 and 3 leaves unlisted files, which Lite's recovery removes (as for a
  stock crash before its manifest commit).

Installed only on the milvus-lite version and stock sources it was written against; otherwise
the stock code keeps running. ``tests/unit/vectors/test_lite_compaction.py`` checks both the
results and that a search completes while a merge is in progress.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.vectors.lite_fastpath import stock_matches

log = logging.getLogger("appliance.vectors.lite")

SUPPORTED_VERSION = "3.2.2"
STOCK_SOURCE_SHA256 = {
    "Collection._bg_compact_and_index": "ec39440d65d68ee2dd81687fa2b3c9f3aa2777f6c7f41bf417d58dbe62fe6c78",
    "CompactionManager.maybe_compact": "bd8443443eaaa59851d419a9df97d7826f8c58a36f8fa9d302c0b0722d302c5f",
    "CompactionManager._compact_files": "03621c5652db22fd4ebb2b31e12f43b459ead1d3465bad2a5d117551a3315f04",
}
"""The stock methods whose behaviour :func:`compact_and_index` restates."""

_install_lock = threading.Lock()
_stock: Callable[..., None] | None = None


def _stock_methods() -> dict[str, Callable[..., Any]]:
    from milvus_lite.engine.collection import Collection
    from milvus_lite.engine.compaction import CompactionManager

    return {
        "Collection._bg_compact_and_index": Collection._bg_compact_and_index,
        "CompactionManager.maybe_compact": CompactionManager.maybe_compact,
        "CompactionManager._compact_files": CompactionManager._compact_files,
    }


def install() -> bool:
    """Put :func:`compact_and_index` in place of Lite's background compaction; True when it is.

    Idempotent. On another milvus-lite version, or when a stock method's source differs from the
    one this was written against, logs a warning and leaves the stock code running."""
    global _stock
    with _install_lock:
        if _stock is not None:
            return True
        try:
            methods = _stock_methods()
        except ImportError as exc:  # not installed: nothing to patch
            log.warning("milvus-lite not importable (%s): compaction patch not installed", exc)
            return False
        if not stock_matches("the compaction patch", SUPPORTED_VERSION, dict(methods), STOCK_SOURCE_SHA256):
            return False
        from milvus_lite.engine.collection import Collection

        _stock = Collection._bg_compact_and_index
        Collection._bg_compact_and_index = compact_and_index
        log.info("milvus-lite: compaction without the search lock installed")
        return True


def uninstall() -> None:
    """Put the stock compaction back (tests)."""
    global _stock
    with _install_lock:
        if _stock is None:
            return
        from milvus_lite.engine.collection import Collection

        Collection._bg_compact_and_index = _stock
        _stock = None


def is_installed() -> bool:
    return _stock is not None


def compact_and_index(collection: Any) -> None:
    """The background worker's body: compact each partition, then build missing indexes."""
    try:
        with collection._maintenance_lock:
            partitions = list(collection._manifest.list_partitions())
        for partition in partitions:
            _compact_partition(collection, partition)
        with collection._maintenance_lock:
            collection._refresh_segment_cache()
            collection._cleanup_orphan_index_files()
        started = time.monotonic()
        built = collection._ensure_loaded_segments_indexed()
        if built > 0:
            log.info("lite: built %d segment indexes in %.2fs", built, time.monotonic() - started)
    except Exception:
        log.exception("background compaction/index build failed; will retry on next flush")


def _compact_partition(collection: Any, partition: str) -> bool:
    """One stock compaction round of one partition, merging outside the lock; True if merged."""
    from milvus_lite.constants import COMPACTION_MIN_FILES_PER_BUCKET, MAX_SEGMENT_ROWS
    from milvus_lite.storage.data_file import read_data_file, write_data_file
    from milvus_lite.storage.segment import Segment
    from milvus_lite.storage.snapshots import snapshot_references

    manager = collection._compaction_mgr
    partition_dir = os.path.join(collection._data_dir, "partitions", partition)

    # 1. Choose (stock rules) and freeze the tombstones.
    with collection._maintenance_lock:
        files = list(collection._manifest.get_data_files(partition))
        if len(files) < COMPACTION_MIN_FILES_PER_BUCKET:
            return False
        buckets = manager._bucket_files(partition_dir, files)
        target = manager._select_target(buckets, len(files), partition_dir)
        if target is None:
            return False
        tombstones = collection._delta_index.frozen_copy()

    # 2. Merge, write and load, without the lock.
    started = time.monotonic()
    import pyarrow as pa
    import pyarrow.compute as pc

    combined = pa.concat_tables([read_data_file(os.path.join(partition_dir, fn)) for fn in target])
    input_rows = combined.num_rows
    merged = manager._filter_deleted(manager._dedup_max_seq(combined), tombstones)
    del combined  # up to twice MAX_SEGMENT_ROWS rows of vectors: not held while writing and loading
    written: list[tuple[str, Any]] = []
    if merged.num_rows > 0:
        merged = merged.take(pc.sort_indices(merged, sort_keys=[("_seq", "ascending")]))
        for offset in range(0, merged.num_rows, MAX_SEGMENT_ROWS):
            chunk = merged.slice(offset, min(MAX_SEGMENT_ROWS, merged.num_rows - offset))
            seqs = pc.min_max(chunk.column("_seq")).as_py()
            low, high = manager._pick_unique_seq_range(partition_dir, seqs["min"], seqs["max"])
            rel = write_data_file(chunk, partition_dir, seq_min=low, seq_max=high)
            segment = Segment.load(
                file_path=os.path.join(partition_dir, rel),
                partition=partition,
                pk_field=collection._pk_name,
                vector_field=collection._vector_name,
            )
            written.append((rel, segment))

    # 3. Swap under the lock, if nothing else changed the chosen files meanwhile.
    with collection._maintenance_lock:
        listed = set(collection._manifest.get_data_files(partition))
        if not set(target) <= listed:
            swapped = False
        else:
            collection._manifest.remove_data_files(partition, target)
            for rel, _ in written:
                collection._manifest.add_data_file(partition, rel)
            collection._manifest.save()
            for rel, segment in written:
                collection._segment_cache[(partition, rel)] = segment
            collection._refresh_segment_cache()
            manager._gc_tombstones(collection._manifest, collection._delta_index)
            swapped = True
    if not swapped:  # our merged files are unlisted: remove them, keep the inputs
        log.warning("lite compaction of %s skipped: its input files changed meanwhile", partition)
        for rel, _ in written:
            _remove(os.path.join(partition_dir, rel))
        return False

    pinned = snapshot_references(collection._data_dir)[0].get(partition, set())
    for fn in target:
        if fn not in pinned:
            _remove(os.path.join(partition_dir, fn))
    log.info(
        "lite compaction: partition=%s, %d files (%d rows) -> %d files (%d rows) in %.2fs, searches ran on",
        partition,
        len(target),
        input_rows,
        len(written),
        merged.num_rows,
        time.monotonic() - started,
    )
    return True


def _remove(path: str) -> None:
    try:
        if os.path.exists(path):
            os.remove(path)
    except OSError as exc:
        log.warning("lite compaction: failed to remove %s: %s", path, exc)
