"""A vectorised search executor for Milvus Lite 3.2.2, result-identical to the stock one.

Milvus Lite's ``milvus_lite.search.executor_indexed.execute_search_with_index`` decides which
rows of each source (every in-scope segment, then the memtable) are visible with two loops of
pure Python over every row in scope: the global max ``_seq`` per primary key across all sources
(upserts leave older copies of a pk in older segments), then a per-row mask that keeps a row only
when its ``_seq`` is that maximum and no tombstone with a larger ``_seq`` shadows it (the frozen
``DeltaIndex`` copy and the memtable's un-flushed deletes). That is ~85 % of a search call: ~12 ms
fixed at 20,000 rows, ~60 ms at 100,000, before faiss does anything.

:func:`install` swaps in :func:`fast_execute_search_with_index`, which computes the same masks
without per-row Python:

* every source has a ``{pk: row}`` map (``Segment.pk_to_row``, built once at load; for the
  memtable ``dict(zip(pks, range(n)))``); pks present in more than one source are found with
  C-level set operations on the maps' key views and only those are resolved by max ``_seq``;
* tombstones are applied sparsely: the keys of ``DeltaIndex._map`` and of the memtable's
  ``delete_index_snapshot()`` are intersected with each source's keys, and ``_seq`` is compared
  (in numpy, as uint64 like the stock ``int`` comparison) for those rows only.

The cross-segment part (which pks several in-scope segments share, and which of their rows lose)
depends only on the segments, so it is cached per scope. Segments are immutable: a flush or a
compaction writes a new Parquet file and ``Collection._refresh_segment_cache`` loads it as a new
``Segment`` (``Segment.load``), evicting the old object; nothing assigns ``pks``/``seqs``/
``pk_to_row`` after ``__init__`` (Lite's own ``_segments_snapshot`` docstring relies on the same
invariant; index attachment mutates only ``indexes``). ``Segment`` has ``__slots__`` without
``__weakref__``, and holding the segments would pin their vectors, so a cache entry holds the
segments' ``seqs`` arrays (8 bytes per row) and is keyed on their identities: a held object cannot
be freed, so its ``id`` cannot be reused, and each ``Segment.load`` makes a fresh array. The cache
is a small LRU.

The fast path falls back to the stock function for the whole call when anything is not as
expected: a segment whose ``pks`` hold a pk twice (``len(pk_to_row) != len(pks)``) or whose
``seqs`` is not a uint64 array of the same length, a memtable snapshot with repeated pks, a
delete index of another type, a tombstone ``_seq`` that is not a uint64 value, or any exception
while building the masks. Everything after the masks (per-source recall, merge, materialisation,
filters, null masks, output projection) is the stock code.

Attribution: :func:`fast_execute_search_with_index` is a modified copy of
``execute_search_with_index`` from milvus-lite 3.2.2 (https://github.com/milvus-io/milvus-lite),
Copyright the Milvus Contributors, licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0). Changes: steps 1 and 2 of the stock function (the
global max-seq map and the per-row ``_build_local_mask``) are replaced by :func:`_visibility_masks`
with a fallback to the stock function; segment pk lists are not copied; type annotations are
modernised. The rest of this module is the appliance's own code.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, KeysView, Sequence
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger("appliance.vectors")

SUPPORTED_VERSION = "3.2.2"
STOCK_SOURCE_SHA256 = "e22ce49c5ee11c9535792072df8ac5d07fe48f7a76888f1063d46adc14a6022f"
"""sha256 of ``inspect.getsource(execute_search_with_index)`` in milvus-lite 3.2.2."""

_EXECUTOR_MODULE = "milvus_lite.search.executor_indexed"
_CALLER_MODULES = ("milvus_lite.engine.collection",)
"""Modules that ``from … import execute_search_with_index`` (grep of milvus-lite 3.2.2)."""
_FUNCTION = "execute_search_with_index"
_SCOPE_CACHE_SIZE = 32
"""Scopes (sets of >= 2 segments) remembered; each holds its segments' seqs (8 bytes a row)."""

Mask = np.ndarray[Any, np.dtype[np.bool_]]

_install_lock = threading.Lock()
_stock: Callable[..., list[list[dict[str, Any]]]] | None = None
_patched: list[tuple[ModuleType, str]] = []
_fallbacks = 0


# ── install / uninstall ───────────────────────────────────────────────────────────────────────


def milvus_lite_version() -> str:
    """The installed milvus-lite version (checked by this patch and by ``lite_compaction``)."""
    try:
        return metadata.version("milvus-lite")
    except metadata.PackageNotFoundError:
        module = importlib.import_module("milvus_lite")
        return str(getattr(module, "__version__", "unknown"))


def source_sha256(function: Callable[..., Any]) -> str | None:
    """The sha256 of a function's source (the guard of this patch and of ``lite_compaction``)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def stock_matches(
    patch: str, supported: str, sources: dict[str, Callable[..., Any] | None], expected: dict[str, str]
) -> bool:
    """Whether milvus-lite is the ``supported`` version and each stock function in ``sources``
    has the ``expected`` source hash, i.e. whether ``patch`` may replace them; logs why not."""
    version = milvus_lite_version()
    digests = {name: source_sha256(f) if callable(f) else None for name, f in sources.items()}
    if version != supported or digests != expected:
        log.warning("milvus-lite %s: %s not installed, running stock code", version, patch)
        return False
    return True


def install() -> bool:
    """Replace Milvus Lite's search executor by the fast path; True when it is (now) in place.

    Installs only on milvus-lite 3.2.2 whose stock function's source hash matches the recorded
    one; otherwise logs a warning and returns False, leaving the stock code running. Idempotent.
    """
    global _stock
    with _install_lock:
        if _stock is not None:
            return True
        try:
            version = milvus_lite_version()
            executor = importlib.import_module(_EXECUTOR_MODULE)
            callers = [importlib.import_module(name) for name in _CALLER_MODULES]
        except ImportError as exc:
            log.warning("milvus-lite not importable (%s): search fast path not installed", exc)
            return False
        stock = getattr(executor, _FUNCTION, None)
        digest = source_sha256(stock) if callable(stock) else None
        if (
            version != SUPPORTED_VERSION
            or stock is None
            or digest != STOCK_SOURCE_SHA256
            or any(getattr(module, _FUNCTION, None) is not stock for module in callers)
        ):
            log.warning("milvus-lite %s: search fast path not installed, running stock code", version)
            return False
        # Every loaded milvus_lite module bound to the stock function (the executor, the known
        # callers, and any other ``from … import`` site).
        sites = [
            (module, name)
            for module_name, module in list(sys.modules.items())
            if module is not None and (module_name == "milvus_lite" or module_name.startswith("milvus_lite."))
            for name, value in list(vars(module).items())
            if value is stock
        ]
        for module, name in sites:
            setattr(module, name, fast_execute_search_with_index)
        _patched[:] = sites
        _stock = stock
        log.info(
            "milvus-lite %s: search fast path installed (%s)",
            version,
            ", ".join(f"{module.__name__}.{name}" for module, name in sites),
        )
        return True


def uninstall() -> None:
    """Put the stock executor back where :func:`install` replaced it (bench and tests)."""
    global _stock
    with _install_lock:
        if _stock is None:
            return
        for module, name in _patched:
            if getattr(module, name, None) is fast_execute_search_with_index:
                setattr(module, name, _stock)
        _patched.clear()
        _stock = None
        with _scope_lock:
            _scope_cache.clear()


def is_installed() -> bool:
    return _stock is not None


def fallback_count() -> int:
    """How many calls the fast path handed to the stock function (tests, diagnostics)."""
    return _fallbacks


def _stock_function() -> Callable[..., list[list[dict[str, Any]]]]:
    if _stock is not None:
        return _stock
    executor = importlib.import_module(_EXECUTOR_MODULE)
    stock: Callable[..., list[list[dict[str, Any]]]] = getattr(executor, _FUNCTION)
    if stock is fast_execute_search_with_index:  # pragma: no cover - patched by someone else
        raise RuntimeError("the stock Milvus Lite executor is not reachable")
    return stock


# ── visibility masks ──────────────────────────────────────────────────────────────────────────


class _Unexpected(Exception):
    """Input the fast path does not handle: run the stock function for this call."""


@dataclass(frozen=True)
class _ScopeEntry:
    seqs: tuple[np.ndarray[Any, Any], ...]
    """The segments' ``seqs`` arrays, held so that their ids (the cache key) stay unique."""
    losers: tuple[np.ndarray[Any, Any] | None, ...]
    """Per segment: rows shadowed by a larger ``_seq`` of the same pk in another segment."""


_scope_lock = threading.Lock()
_scope_cache: OrderedDict[tuple[int, ...], _ScopeEntry] = OrderedDict()


def _multi_source_keys(views: Sequence[KeysView[Any]]) -> set[Any]:
    """Keys present in at least two of ``views``, with C-level set operations only."""
    shared: set[Any] = set()
    sizes = sorted(len(view) for view in views)
    # cost of all pairwise intersections (each iterates the smaller view) vs one pass building a set
    pairwise = sum(size * (len(sizes) - 1 - i) for i, size in enumerate(sizes))
    if pairwise <= 3 * sum(sizes):
        for i in range(len(views)):
            for j in range(i + 1, len(views)):
                shared |= views[i] & views[j]  # iterates the smaller view, probes the larger
        return shared
    seen: set[Any] = set()
    for view in views:
        shared |= seen.intersection(view)
        seen.update(view)
    return shared


def _seq_of(seqs: np.ndarray[Any, Any], row: int) -> int:
    return int(seqs[row])


def _segment_scope(segments: Sequence[Any]) -> _ScopeEntry:
    """Cross-segment dedup for these (immutable) segments, cached per scope."""
    key = tuple(id(seg.seqs) for seg in segments)
    with _scope_lock:
        entry = _scope_cache.get(key)
        if entry is not None and all(a is seg.seqs for a, seg in zip(entry.seqs, segments, strict=True)):
            _scope_cache.move_to_end(key)
            return entry
    maps: list[dict[Any, int]] = [seg.pk_to_row for seg in segments]
    shared = _multi_source_keys([m.keys() for m in maps])
    losers: list[list[int]] = [[] for _ in segments]
    for pk in shared:
        holders = [(i, m[pk]) for i, m in enumerate(maps) if pk in m]
        seqs = [_seq_of(segments[i].seqs, row) for i, row in holders]
        top = max(seqs)
        for (i, row), seq in zip(holders, seqs, strict=True):
            if seq != top:
                losers[i].append(row)
    entry = _ScopeEntry(
        seqs=tuple(seg.seqs for seg in segments),
        losers=tuple(np.asarray(rows, dtype=np.intp) if rows else None for rows in losers),
    )
    with _scope_lock:
        _scope_cache[key] = entry
        _scope_cache.move_to_end(key)
        while len(_scope_cache) > _SCOPE_CACHE_SIZE:
            _scope_cache.popitem(last=False)
    return entry


def _check_seqs(seqs: Any, n: int) -> np.ndarray[Any, Any]:
    if not isinstance(seqs, np.ndarray) or seqs.dtype != np.uint64 or seqs.shape != (n,):
        raise _Unexpected("seqs is not a uint64 array aligned with the pks")
    return seqs


def _apply_tombstones(
    mask: Mask,
    rows_by_pk: dict[Any, int],
    seqs: np.ndarray[Any, Any],
    tombstones: dict[Any, Any],
    delete_seq: Callable[[Any], int],
) -> None:
    """Hide the rows whose pk has a tombstone with a strictly larger ``_seq``."""
    if not tombstones:
        return
    hits = tombstones.keys() & rows_by_pk.keys()
    if not hits:
        return
    count = len(hits)
    rows = np.fromiter(map(rows_by_pk.__getitem__, hits), dtype=np.intp, count=count)
    try:
        deleted_at = np.fromiter((delete_seq(tombstones[pk]) for pk in hits), dtype=np.uint64, count=count)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _Unexpected(f"tombstone seq is not a uint64 value: {exc}") from exc
    mask[rows[deleted_at > seqs[rows]]] = False


def _delta_seq(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise TypeError(f"delete seq {value!r}")
    return value


def _memtable_delete_seq(entry: Any) -> int:
    return _delta_seq(entry[0])


def _visibility_masks(
    segments: Sequence[Any],
    mt_pks: list[Any],
    mt_seqs: Any,
    delta_map: dict[Any, Any],
    mt_deletes: dict[Any, Any],
) -> list[Mask]:
    """One mask per source (segments, then the memtable when it has rows): True = visible.

    Equal to the stock ``_build_local_mask`` before the filter mask is applied: the row's ``_seq``
    is the largest of its pk over all sources in scope, and neither the delete index nor the
    memtable's deletes hold a larger ``_seq`` for its pk. Raises ``_Unexpected``.
    """
    seg_maps: list[dict[Any, int]] = []
    seg_seqs: list[np.ndarray[Any, Any]] = []
    for seg in segments:
        pk_to_row = seg.pk_to_row
        n = len(seg.pks)
        if type(pk_to_row) is not dict or len(pk_to_row) != n:
            raise _Unexpected("a segment holds a pk more than once")
        seg_maps.append(pk_to_row)
        seg_seqs.append(_check_seqs(seg.seqs, n))

    masks: list[Mask] = []
    if len(segments) > 1:
        scope = _segment_scope(segments)
        for seg_map, losers in zip(seg_maps, scope.losers, strict=True):
            mask = np.ones(len(seg_map), dtype=bool)
            if losers is not None:
                mask[losers] = False
            masks.append(mask)
    else:
        masks.extend(np.ones(len(seg_map), dtype=bool) for seg_map in seg_maps)

    maps = list(seg_maps)
    seqs_by_source = list(seg_seqs)
    if mt_pks:
        mt_map = dict(zip(mt_pks, range(len(mt_pks)), strict=True))
        if len(mt_map) != len(mt_pks):
            raise _Unexpected("the memtable snapshot holds a pk more than once")
        seqs_by_source.append(_check_seqs(mt_seqs, len(mt_pks)))
        maps.append(mt_map)
        masks.append(np.ones(len(mt_pks), dtype=bool))
        # pks both in the memtable and in a segment: resolve by max seq over every source
        contested: set[Any] = set()
        mt_keys = mt_map.keys()
        for seg_map in seg_maps:
            contested |= mt_keys & seg_map.keys()
        for pk in contested:
            holders = [(i, m[pk]) for i, m in enumerate(maps) if pk in m]
            seqs = [_seq_of(seqs_by_source[i], row) for i, row in holders]
            top = max(seqs)
            for (i, row), seq in zip(holders, seqs, strict=True):
                if seq != top:
                    masks[i][row] = False

    for mask, rows_by_pk, seqs_arr in zip(masks, maps, seqs_by_source, strict=True):
        _apply_tombstones(mask, rows_by_pk, seqs_arr, delta_map, _delta_seq)
        _apply_tombstones(mask, rows_by_pk, seqs_arr, mt_deletes, _memtable_delete_seq)
    return masks


def _delta_map(delta_index: Any) -> dict[Any, Any]:
    from milvus_lite.storage.delta_index import DeltaIndex

    if type(delta_index) is not DeltaIndex:
        raise _Unexpected(f"delete index of type {type(delta_index).__name__}")
    delta_map = delta_index._map
    if type(delta_map) is not dict:
        raise _Unexpected("DeltaIndex._map is not a dict")
    return delta_map


# ── the executor (modified copy of milvus-lite 3.2.2, Apache-2.0; see the module docstring) ──


def fast_execute_search_with_index(
    query_vectors: np.ndarray[Any, Any],
    segments: Iterable[Any],
    memtable: Any,
    delta_index: Any,
    top_k: int,
    metric_type: str,
    pk_field: str,
    vector_field: str,
    partition_names: list[str] | None = None,
    compiled_filter: Any | None = None,
    output_fields: list[str] | None = None,
    indexed_filter_plan: Any | None = None,
    project_record_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    search_params: dict[str, Any] | None = None,
) -> list[list[dict[str, Any]]]:
    """Drop-in for ``execute_search_with_index`` with vectorised visibility masks (steps 1-2)."""
    global _fallbacks
    from milvus_lite.index.brute_force import BruteForceIndex

    # ── 0. shape + scope ────────────────────────────────────────
    if query_vectors.ndim == 1:
        query_vectors = query_vectors.reshape(1, -1)
    if query_vectors.dtype != np.float32:
        query_vectors = query_vectors.astype(np.float32, copy=False)
    nq = int(query_vectors.shape[0])

    if nq == 0 or top_k <= 0:
        return [[] for _ in range(nq)]

    partition_filter: set[str] | None = set(partition_names) if partition_names else None

    # In-scope segments (skip empty + partition-filtered).
    in_scope_segments: list[Any] = [
        s
        for s in segments
        if s.num_rows > 0 and (partition_filter is None or s.partition in partition_filter)
    ]

    # Memtable arrays (records deferred — only refs stored).
    mt_pks, mt_seqs, mt_vecs, mt_row_refs, mt_table = memtable.to_search_snapshot(
        vector_field=vector_field,
        partition_names=partition_names,
        include_table=compiled_filter is not None,
    )

    # If we have nothing in scope at all, return empty.
    if not in_scope_segments and not mt_pks:
        return [[] for _ in range(nq)]

    # ── 1. visibility masks (cross-source max-seq dedup + tombstones), vectorised ──
    # MemTable-local tombstones for pks already flushed to segments —
    # not yet in delta_index (folded at next flush). See issue #21.
    mt_deletes = memtable.delete_index_snapshot()  # {pk: (seq, partition)}
    try:
        if type(mt_deletes) is not dict:
            raise _Unexpected("memtable delete snapshot is not a dict")
        visible = _visibility_masks(in_scope_segments, mt_pks, mt_seqs, _delta_map(delta_index), mt_deletes)
    except Exception as exc:
        _fallbacks += 1
        log.debug("milvus-lite search fast path: stock code for this call (%s)", exc)
        return _stock_function()(
            query_vectors=query_vectors,
            segments=in_scope_segments,
            memtable=memtable,
            delta_index=delta_index,
            top_k=top_k,
            metric_type=metric_type,
            pk_field=pk_field,
            vector_field=vector_field,
            partition_names=partition_names,
            compiled_filter=compiled_filter,
            output_fields=output_fields,
            indexed_filter_plan=indexed_filter_plan,
            project_record_fn=project_record_fn,
            search_params=search_params,
        )

    # ── 2. optional per-source filter masks (Phase 8) ───────────
    seg_filter_masks: dict[int, np.ndarray[Any, Any]] = {}
    mt_filter_mask: np.ndarray[Any, Any] | None = None
    if compiled_filter is not None:
        from milvus_lite.search.filter import evaluate_mask
        from milvus_lite.search.indexed_filter import evaluate_segment_filter

        for seg in in_scope_segments:
            seg_filter_masks[id(seg)] = evaluate_segment_filter(
                seg,
                compiled_filter,
                indexed_filter_plan,
            )
        if mt_pks and mt_table is not None:
            mt_filter_mask = evaluate_mask(compiled_filter, mt_table)

    # ── 3. per-source recall ────────────────────────────────────
    # Per query, accumulate (distance, source_idx, local_id) candidate
    # tuples. We materialize records lazily after the global sort so
    # we only pay row_to_dict cost for rows that actually win a slot.
    per_query_candidates: list[list[tuple[float, int, int]]] = [[] for _ in range(nq)]

    # Sources are numbered 0..N-1 = segments, then N = memtable.
    sources: list[tuple[list[Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []

    def _build_local_mask(source_idx: int, filter_mask: np.ndarray[Any, Any] | None) -> Mask:
        local_mask = visible[source_idx]
        if filter_mask is not None:
            local_mask = local_mask & filter_mask.astype(bool)
        return local_mask

    def _recall_source(
        source_idx: int,
        pks: list[Any],
        vectors: np.ndarray[Any, Any],
        filter_mask: np.ndarray[Any, Any] | None,
        index: Any,  # Optional[VectorIndex]
    ) -> None:
        n = len(pks)
        if n == 0:
            return
        local_mask = _build_local_mask(source_idx, filter_mask)
        if not local_mask.any():
            return
        if index is None:
            index = BruteForceIndex.build(vectors, metric_type)
        # valid_mask=None means "all rows valid" (see VectorIndex.search
        # docstring) -- equivalent to an all-true mask but skips the
        # IDSelector path, which otherwise bounds ANN traversal even when
        # nothing is actually excluded.
        local_ids, dists = index.search(
            query_vectors,
            top_k,
            valid_mask=None if local_mask.all() else local_mask,
            params=search_params,
        )
        for q in range(nq):
            for j in range(top_k):
                lid = int(local_ids[q, j])
                if lid < 0:
                    break  # padding from here on (sorted ascending; -1 is sentinel)
                per_query_candidates[q].append((float(dists[q, j]), source_idx, lid))

    # Segments first.
    for seg in in_scope_segments:
        seg_vectors, seg_vector_null_mask = seg.vector_data(vector_field)
        sources.append((seg.pks, seg.seqs, seg_vectors))  # read-only: no copy of the pk list
        # Combine scalar filter mask with vector null mask
        combined_mask = seg_filter_masks.get(id(seg))
        if seg_vector_null_mask is not None:
            if combined_mask is not None:
                combined_mask = combined_mask & seg_vector_null_mask
            else:
                combined_mask = seg_vector_null_mask
        _recall_source(
            source_idx=len(sources) - 1,
            pks=sources[-1][0],
            vectors=sources[-1][2],
            filter_mask=combined_mask,
            index=seg.indexes.get(vector_field),
        )

    # Memtable last (always brute-force; never has an attached index).
    if mt_pks:
        sources.append((mt_pks, mt_seqs, mt_vecs))
        _recall_source(
            source_idx=len(sources) - 1,
            pks=mt_pks,
            vectors=mt_vecs,
            filter_mask=mt_filter_mask,
            index=None,
        )

    # Track which (segment, local_id) maps to which source so we can
    # also pull records out at materialization time. The mapping is
    # implicit via source_idx into `in_scope_segments + [memtable]`.
    n_segments = len(in_scope_segments)

    # ── 4. global merge + entity projection ─────────────────────
    project_entity: Callable[[dict[str, Any]], dict[str, Any]]
    if project_record_fn is not None:
        project_entity = project_record_fn
    elif output_fields is None:

        def project_entity(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if k != pk_field and k != vector_field}

    else:
        keep = set(output_fields)
        keep.discard(pk_field)

        def project_entity(record: dict[str, Any]) -> dict[str, Any]:
            return {k: record[k] for k in keep if k in record}

    # Only the columns the answer needs: Segment.row_to_dict turned every winning row's vector
    # into a Python list (the largest Python item of a sidecar search at 512-D). Identical
    # records whenever the fields asked for are stored columns and there are no dynamic fields
    # to unpack; anything else takes the stock path.
    wanted = tuple(dict.fromkeys([pk_field, *output_fields])) if output_fields else None
    narrow_ok: dict[int, bool] = {}

    def _materialize_record(source_idx: int, local_id: int) -> dict[str, Any]:
        if source_idx < n_segments:
            segment = in_scope_segments[source_idx]
            if wanted is not None:
                ok = narrow_ok.get(source_idx)
                if ok is None:
                    names = set(segment.table.schema.names)
                    ok = narrow_ok[source_idx] = "$meta" not in names and all(n in names for n in wanted)
                if ok:
                    return {n: segment.table.column(n)[local_id].as_py() for n in wanted}
            record: dict[str, Any] = segment.row_to_dict(local_id)
            return record
        # Memtable source — deferred materialization via row refs.
        batch_idx, row_idx = mt_row_refs[local_id]
        mt_record: dict[str, Any] = memtable.materialize_row(batch_idx, row_idx)
        return mt_record

    results: list[list[dict[str, Any]]] = []
    for q in range(nq):
        # Sort by (distance, source_idx, local_id) for determinism on ties.
        candidates = per_query_candidates[q]
        candidates.sort(key=lambda c: (c[0], c[1], c[2]))
        per_query: list[dict[str, Any]] = []
        for dist, source_idx, local_id in candidates[:top_k]:
            record = _materialize_record(source_idx, local_id)
            pk = record.get(pk_field) if pk_field in record else sources[source_idx][0][local_id]
            per_query.append(
                {
                    "id": pk,
                    "distance": dist,
                    "entity": project_entity(record),
                }
            )
        results.append(per_query)

    return results
