"""Milvus implementation of :class:`VectorIndex`, for a Milvus server or a Milvus Lite file.

One collection (``face_embeddings``): ``id`` VARCHAR primary key (the exemplar uuid),
``customer_id`` VARCHAR, ``vector`` FLOAT_VECTOR(dim), an IVF_FLAT index (HNSW or FLAT by
configuration) with inner product on L2-normalised vectors (= cosine). One partition per tenant,
``t_<tenant hex>``. The same code runs against ``http://host:19530`` and against
``<data_dir>/milvus/vectors.db`` (Lite, in this process) or a Lite sidecar behind
``http://127.0.0.1:<port>`` (recognised by its server version); the few Lite differences are
handled here and written down in docs/adr/0004-vector-index-milvus.md.

Every method is blocking: call them from a worker thread in async code (``SearchBatcher`` does).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from appliance.vectors.base import DimensionMismatchError, Query, SearchHit, VectorIndexError, VectorItem
from appliance.vectors.lite_lane import LaneClient, LaneSearch, LaneUnavailable, LaneUpsert

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "face_embeddings"
ID_FIELD, CUSTOMER_FIELD, VECTOR_FIELD = "id", "customer_id", "vector"
UUID_LENGTH = 36
METRIC = "IP"
WRITE_CHUNK = 1000
"""Rows per upsert RPC (1000 x 512-D float32 = 2 MB, far below the 64 MB gRPC limit)."""
READY_TIMEOUT = 2.0
"""Seconds a readiness probe waits for the index."""
COLLECTION_NOT_LOADED = 101
"""Milvus's error code for a read on a released collection (Lite and server)."""
LITE_AUTO_FLUSH_VALUES = 32_768
"""Lite searches un-flushed rows by brute force after converting them from Python lists, at
~0.1 us per float per search call (bench/bench_vectors.py): auto-flush once the un-flushed rows
hold this many floats (64 rows at 512-D, 256 at 128-D), which bounds that cost to a few ms."""
CONSISTENCY = "Bounded"
"""Searches may miss writes of the last few seconds on a server (Lite: none); ingest re-checks
recent exemplars in PostgreSQL. Counts (verification) always run with Strong consistency."""


def partition_name(tenant_id: uuid.UUID) -> str:
    return f"t_{tenant_id.hex}"


LITE_VERSION_PREFIX = "milvus_lite"
"""Milvus Lite answers GetVersion with ``milvus_lite-<version>`` (a server with ``v2.x``)."""


def is_lite_uri(uri: str) -> bool:
    """A Milvus Lite file, run inside this process by pymilvus."""
    return uri.endswith(".db")


def is_lite_version(version: str) -> bool:
    return version.startswith(LITE_VERSION_PREFIX)


def lite_auto_flush_rows(dim: int) -> int:
    return max(16, LITE_AUTO_FLUSH_VALUES // dim)


# Lite runs in this process (pymilvus starts one in-process server per file): count the indexes
# using each file so the last close() stops it and frees the file lock.
_lite_lock = threading.Lock()
_lite_users: dict[str, int] = {}


class MilvusIndex:
    """``VectorIndex`` on ``pymilvus.MilvusClient``; thread-safe (writes are serialised)."""

    def __init__(
        self,
        uri: str,
        dim: int,
        collection: str = DEFAULT_COLLECTION,
        token: str | None = None,
        nlist: int = 128,
        nprobe: int = 16,
        *,
        index_type: str = "IVF_FLAT",
        hnsw_m: int = 16,
        hnsw_ef: int = 64,
        auto_flush_rows: int | None = None,
        timeout: float | None = None,
        search_lane: LaneClient | None = None,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"the vector dimension must be positive, got {dim}")
        self.uri, self.dim, self.collection = uri, dim, collection
        self.nlist, self.nprobe, self.hnsw_m, self.hnsw_ef = nlist, nprobe, hnsw_m, hnsw_ef
        self._write_lock = threading.Lock()
        self._unflushed = 0
        self._partitions: set[str] = set()
        self._closed = False
        self._lite_path = os.path.abspath(uri) if is_lite_uri(uri) else None
        """The Lite file this process serves itself (None for an http URI, sidecar included)."""
        if self._lite_path is not None:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._client = MilvusClient(uri=uri, token=token or "", timeout=timeout)
        except MilvusException as exc:
            raise VectorIndexError(self._open_error(exc)) from exc
        if self._lite_path is not None:
            with _lite_lock:
                _lite_users[self._lite_path] = _lite_users.get(self._lite_path, 0) + 1
        self.is_lite = self._lite_path is not None or self._serves_lite(timeout)
        """Milvus Lite (a file here or a sidecar): no partition load/release, auto-flush."""
        self.index_type = index_type.upper()
        """As configured; ``ensure_collection`` replaces it by the type the collection was built with."""
        self.configured_index_type = self.index_type
        if auto_flush_rows is None:
            auto_flush_rows = lite_auto_flush_rows(dim) if self.is_lite else 0
        self.auto_flush_rows = auto_flush_rows
        """Flush after this many written rows (0: never by itself; a server seals segments itself)."""
        self.search_lane = search_lane if self.is_lite else None
        """A Lite sidecar's lane: ``search_async`` and ``upsert`` use it, pymilvus when they cannot."""

    def _serves_lite(self, timeout: float | None) -> bool:
        """Ask an http URI what answers: a Lite sidecar needs the Lite code paths."""
        try:
            version = str(self._client.get_server_version(timeout=timeout or 10.0))
        except MilvusException as exc:  # every server implements GetVersion; assume a server
            log.warning("cannot read the Milvus server version at %s: %s", self.uri, exc.message)
            return False
        return is_lite_version(version)

    def _open_error(self, exc: MilvusException) -> str:
        if self._lite_path is not None:
            return (
                f"cannot open the Milvus Lite file {self.uri}: it is probably open in another process "
                "(a Lite file serves one process only). Stop that process (e.g. `appliance serve`), or "
                "run a Milvus server and point APPLIANCE_MILVUS_URI at it when several processes need "
                f"the index ({exc.message})"
            )
        return f"cannot connect to Milvus at {self.uri}: {exc.message}"

    # -- collection ------------------------------------------------------------------------

    def existing_dim(self) -> int | None:
        """The vector dimension of the collection, or None when it does not exist."""
        if not self._client.has_collection(self.collection):
            return None
        info = self._client.describe_collection(self.collection)
        fields = {field["name"]: field for field in info.get("fields", [])}
        vector = fields.get(VECTOR_FIELD)
        if vector is None or ID_FIELD not in fields or CUSTOMER_FIELD not in fields:
            raise VectorIndexError(
                f"the Milvus collection {self.collection!r} has an unexpected schema "
                f"(fields {sorted(fields)}): run `appliance reindex` to rebuild it (or drop it)"
            )
        return int(vector.get("params", {}).get("dim", 0))

    def built_index_type(self) -> str | None:
        """The index type the collection was built with; None when there is no collection."""
        if not self._client.has_collection(self.collection):
            return None
        return self._built_index_type()

    def _built_index_type(self) -> str | None:
        """The index the collection has (created earlier, maybe with other settings): search
        parameters must suit it."""
        try:
            described = self._client.describe_index(self.collection, VECTOR_FIELD)
        except MilvusException as exc:
            log.warning("cannot read the index of %s: %s", self.collection, exc.message)
            return None
        built = str((described or {}).get("index_type") or "").upper()
        if built and built != self.index_type:
            log.info(
                "the collection %s has a %s index (configured: %s)", self.collection, built, self.index_type
            )
        return built or None

    def ensure_collection(self) -> None:
        existing = self.existing_dim()
        if existing is None:
            try:
                self._create_collection()
            except MilvusException:
                if not self._client.has_collection(self.collection):  # not a lost creation race
                    raise
            existing = self.existing_dim()
        if existing != self.dim:
            raise DimensionMismatchError(self.collection, existing or 0, self.dim)
        self.index_type = self._built_index_type() or self.index_type
        state = self._client.get_load_state(self.collection).get("state")
        if str(state) != "Loaded":  # LoadState enum prints as its name
            self._client.load_collection(self.collection)

    def _create_collection(self) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=UUID_LENGTH)
        schema.add_field(CUSTOMER_FIELD, DataType.VARCHAR, max_length=UUID_LENGTH)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=self.dim)
        index_params = self._client.prepare_index_params()
        params: dict[str, Any] = {}
        if self.index_type.startswith("IVF"):
            params = {"nlist": self.nlist}
        elif self.index_type.startswith("HNSW"):
            params = {"M": self.hnsw_m, "efConstruction": 200}
        if self.is_lite and params:
            # pymilvus 3 sends each build parameter as its own key; Lite 3.2.2 reads them only from
            # one JSON-encoded "params" key and would silently build with its defaults.
            params = {"params": params}
        index_params.add_index(VECTOR_FIELD, index_type=self.index_type, metric_type=METRIC, params=params)
        self._client.create_collection(self.collection, schema=schema, consistency_level=CONSISTENCY)
        # sync=False: the index of an empty collection needs no wait (pymilvus would sleep 0.5 s
        # and poll AllocTimestamp, an RPC Lite does not implement).
        self._client.create_index(self.collection, index_params, sync=False)
        self._client.load_collection(self.collection)
        log.info(
            "created Milvus collection %s (%d-D, %s/%s)", self.collection, self.dim, self.index_type, METRIC
        )

    def drop_collection(self) -> None:
        with self._write_lock:
            self._client.drop_collection(self.collection)
            self._partitions.clear()
            self._unflushed = 0

    # -- partitions ------------------------------------------------------------------------

    def _has_partition(self, name: str) -> bool:
        if name in self._partitions:
            return True
        if self._client.has_partition(self.collection, name):
            self._partitions.add(name)
            return True
        return False

    def ensure_partition(self, tenant_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        if self._has_partition(name):
            return
        with self._write_lock:
            if self._client.has_partition(self.collection, name):
                self._partitions.add(name)
                return
            try:
                self._client.create_partition(self.collection, name)
            except MilvusException:
                if not self._client.has_partition(self.collection, name):
                    raise
            if not self.is_lite:  # a server loads new partitions of a loaded collection; make sure
                self._client.load_partitions(self.collection, [name])
            self._partitions.add(name)

    def drop_partition(self, tenant_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        with self._write_lock:
            self._partitions.discard(name)
            if not self._client.has_partition(self.collection, name):
                return
            if not self.is_lite:  # a server drops only released partitions (Lite has no such RPC)
                self._client.release_partitions(self.collection, [name])
            self._client.drop_partition(self.collection, name)

    def tenant_partitions(self) -> list[uuid.UUID]:
        """Tenants that have a partition (for reindex to find leftovers of deleted tenants)."""
        tenants = []
        for name in self._client.list_partitions(self.collection):
            if name.startswith("t_"):
                try:
                    tenants.append(uuid.UUID(hex=name[2:]))
                except ValueError:
                    continue
        return tenants

    # -- writes ----------------------------------------------------------------------------

    def upsert(self, tenant_id: uuid.UUID, items: Sequence[VectorItem]) -> None:
        if not items:
            return
        vectors = self._normalised([item.vector for item in items])
        self.ensure_partition(tenant_id)
        name = partition_name(tenant_id)
        with self._write_lock:
            for start in range(0, len(items), WRITE_CHUNK):
                chunk = items[start : start + WRITE_CHUNK]
                self._upsert_chunk(name, chunk, vectors[start : start + WRITE_CHUNK])
            self._wrote(len(items))

    def _upsert_chunk(self, name: str, items: Sequence[VectorItem], vectors: np.ndarray[Any, Any]) -> None:
        """Over the lane when there is one (columns, no protobuf), else — and whenever the lane
        fails — through pymilvus. An upsert of full rows can be applied twice."""
        ids, customers = [str(item.id) for item in items], [str(item.customer_id) for item in items]
        lane = self.search_lane
        if lane is not None and lane.available():
            request = LaneUpsert(
                collection=self.collection,
                partition=name,
                dim=self.dim,
                ids=ids,
                customer_ids=customers,
                vectors=vectors.astype("<f4", copy=False).tobytes(),
            )
            try:
                lane.upsert(request)
                return
            except LaneUnavailable as exc:
                log.warning("lane upsert failed, writing through pymilvus: %s", exc)
        rows = [
            {ID_FIELD: pk, CUSTOMER_FIELD: customer, VECTOR_FIELD: vector}
            for pk, customer, vector in zip(ids, customers, vectors.tolist(), strict=True)
        ]
        self._client.upsert(self.collection, rows, partition_name=name)

    def delete(self, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        name = partition_name(tenant_id)
        if not ids or not self._has_partition(name):
            return
        with self._write_lock:
            for chunk in _chunks([str(i) for i in ids], WRITE_CHUNK):
                self._client.delete(self.collection, ids=chunk, partition_name=name)
            self._wrote(len(ids))

    def delete_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        if not self._has_partition(name):
            return
        with self._write_lock:
            self._client.delete(self.collection, filter=_customer_filter(customer_id), partition_name=name)
            self._wrote(1)

    def _wrote(self, rows: int) -> None:
        """Account for writes; called with the write lock held."""
        self._unflushed += rows
        if self.auto_flush_rows and self._unflushed >= self.auto_flush_rows:
            self._flush_locked()

    def flush(self) -> None:
        with self._write_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._client.flush(self.collection)
        self._unflushed = 0

    # -- reads -----------------------------------------------------------------------------

    def search(self, tenant_id: uuid.UUID, vectors: Sequence[Query], top_k: int = 5) -> list[list[SearchHit]]:
        if len(vectors) == 0:
            return []
        queries = self._normalised(vectors)
        name = partition_name(tenant_id)
        empty: list[list[SearchHit]] = [[] for _ in range(len(queries))]
        if top_k <= 0 or not self._has_partition(name):
            return empty
        try:
            results = self._reloading(lambda: self._search(queries, name, top_k))
        except MilvusException:
            # The partition may have been dropped by another process since it was cached.
            self._partitions.discard(name)
            if not self._client.has_partition(self.collection, name):
                return empty
            raise
        return [[_hit(raw) for raw in hits] for hits in results]

    async def search_async(
        self, tenant_id: uuid.UUID, vectors: Sequence[Query], top_k: int = 5
    ) -> list[list[SearchHit]]:
        """``search`` from an event loop: over the search lane when there is one (no thread, no
        gRPC), else — and whenever the lane fails — ``search`` in a worker thread."""
        lane, name = self.search_lane, partition_name(tenant_id)
        # A partition not yet known to exist is checked by ``search`` (a blocking call).
        if lane is not None and lane.available() and name in self._partitions and top_k > 0 and len(vectors):
            queries = self._normalised(vectors)
            request = LaneSearch(
                collection=self.collection,
                partition=name,
                top_k=top_k,
                metric=METRIC,
                params=self._search_params(top_k),
                anns_field=VECTOR_FIELD,
                output_field=CUSTOMER_FIELD,
                dim=self.dim,
                vectors=queries.astype("<f4", copy=False).tobytes(),
            )
            try:
                found = await lane.search(request)
            except LaneUnavailable as exc:
                log.warning("search lane failed, searching through pymilvus: %s", exc)
            else:
                return [[_lane_hit(hit) for hit in hits] for hits in found]
        return await anyio.to_thread.run_sync(self.search, tenant_id, vectors, top_k)

    def _search_params(self, top_k: int) -> dict[str, int]:
        if self.index_type.startswith("IVF"):
            return {"nprobe": self.nprobe}
        if self.index_type.startswith("HNSW"):
            return {"ef": max(self.hnsw_ef, top_k)}
        return {}

    def _search(self, queries: np.ndarray[Any, Any], name: str, top_k: int) -> Any:
        return self._client.search(
            self.collection,
            data=queries.tolist(),
            limit=top_k,
            partition_names=[name],
            anns_field=VECTOR_FIELD,
            output_fields=[CUSTOMER_FIELD],
            search_params={"metric_type": METRIC, "params": self._search_params(top_k)},
        )

    def count(self, tenant_id: uuid.UUID) -> int:
        # A filter is needed: Lite ignores partition_names for count(*) without one.
        return self._count(partition_name(tenant_id), f'{ID_FIELD} != ""')

    def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        return self._count(partition_name(tenant_id), _customer_filter(customer_id))

    def ids_of_customers(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        name = partition_name(tenant_id)
        found: dict[uuid.UUID, uuid.UUID] = {}
        if not customer_ids or not self._has_partition(name):
            return found

        def read(listed: str) -> Any:
            return self._client.query(
                self.collection,
                filter=f"{CUSTOMER_FIELD} in [{listed}]",
                output_fields=[ID_FIELD, CUSTOMER_FIELD],
                partition_names=[name],
                consistency_level="Strong",
            )

        for chunk in _chunks([str(c) for c in customer_ids], WRITE_CHUNK):
            listed = ", ".join(f'"{c}"' for c in chunk)  # a uuid's text needs no escaping
            rows = self._reloading(lambda: read(listed))  # noqa: B023 - called before the next turn
            found.update({uuid.UUID(row[ID_FIELD]): uuid.UUID(row[CUSTOMER_FIELD]) for row in rows})
        return found

    def _count(self, name: str, expr: str) -> int:
        if not self._has_partition(name):
            return 0
        rows = self._reloading(
            lambda: self._client.query(
                self.collection,
                filter=expr,
                output_fields=["count(*)"],
                partition_names=[name],
                consistency_level="Strong",
            )
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _reloading(self, read: Callable[[], T]) -> T:
        """Run a read; when the collection is not loaded (a restarted Milvus or Lite sidecar
        starts with every collection released), load it and run the read once more."""
        try:
            return read()
        except MilvusException as exc:
            if exc.code != COLLECTION_NOT_LOADED:
                raise
            log.warning("collection %s was not loaded (a restarted server?): loading it", self.collection)
            self._client.load_collection(self.collection)
            return read()

    def reachable(self) -> bool:
        try:
            return bool(self._client.has_collection(self.collection, timeout=READY_TIMEOUT))
        except Exception:  # a probe says no; the cause shows in the index's own errors
            return False

    def close(self) -> None:
        """Flush pending Lite writes and close the client; the last index on a Lite file stops
        its in-process server (which flushes, finishes index builds and frees the file lock).
        A Lite sidecar keeps running (its owner, ``appliance serve``, stops it)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.is_lite and self._unflushed:
                self.flush()
        except MilvusException as exc:
            log.warning("flush on close failed: %s", exc)
        finally:
            self._client.close()
            self._release_lite()

    def _release_lite(self) -> None:
        if self._lite_path is None:
            return
        with _lite_lock:
            users = _lite_users.get(self._lite_path, 1) - 1
            if users > 0:
                _lite_users[self._lite_path] = users
                return
            _lite_users.pop(self._lite_path, None)
            try:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self._lite_path)
            except Exception as exc:
                log.warning("stopping Milvus Lite for %s failed: %s", self._lite_path, exc)

    # -- helpers ---------------------------------------------------------------------------

    def _normalised(self, vectors: Sequence[Sequence[float] | np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"expected {self.dim}-D vectors, got an array of shape {array.shape}")
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError("vectors must be finite and non-zero")
        normalised: np.ndarray[Any, Any] = array / norms
        return normalised


def _hit(raw: Any) -> SearchHit:
    return SearchHit(
        id=uuid.UUID(str(raw["id"])),
        customer_id=uuid.UUID(str(raw["entity"][CUSTOMER_FIELD])),
        score=float(raw["distance"]),
    )


def _lane_hit(hit: tuple[str, str, float]) -> SearchHit:
    pk, customer, score = hit
    return SearchHit(id=uuid.UUID(pk), customer_id=uuid.UUID(customer), score=score)


def _customer_filter(customer_id: uuid.UUID) -> str:
    return f'{CUSTOMER_FIELD} == "{customer_id}"'  # a uuid's text needs no escaping


def _chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
