"""A thin blocking wrapper over a Milvus server: one collection, one partition per tenant.

Reads default to Strong consistency: a search must see writes that any process (API workers, the
reindex CLI) has completed, and only Strong guarantees that across processes. The ingest path asks
for Bounded (much cheaper) because it holds the recent writes itself (ADR 0008 has the figures).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from appliance.config import Settings
from appliance.vectors.base import DimensionMismatchError, SearchHit, VectorIndexError

ID, CUSTOMER, VECTOR = "id", "customer_id", "vector"
SCHEMA = {ID: DataType.VARCHAR, CUSTOMER: DataType.VARCHAR, VECTOR: DataType.FLOAT_VECTOR}
METRIC = "IP"  # vectors are L2-normalised: inner product is cosine similarity
CONSISTENCY = "Strong"
CHUNK = 1000  # rows per upsert/delete call: keeps each gRPC message small
CONNECT_TIMEOUT = 5.0
PROBE_TIMEOUT = 2.0
INDEX_TYPES = ("IVF_FLAT", "HNSW", "FLAT")
T = TypeVar("T")


def partition_name(tenant_id: uuid.UUID) -> str:
    return f"t_{tenant_id.hex}"


class MilvusStore:
    def __init__(
        self,
        uri: str,
        dim: int,
        collection: str = "face_embeddings",
        token: str | None = None,
        index_type: str = "IVF_FLAT",
        nlist: int = 128,
        nprobe: int = 16,
        hnsw_m: int = 16,
        hnsw_ef: int = 64,
        timeout: float | None = None,
    ) -> None:
        if index_type.upper() not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, not {index_type!r}")
        self.uri, self.dim, self.collection, self.token = uri, dim, collection, token
        self.index_type = index_type.upper()
        self.nlist, self.nprobe, self.hnsw_m, self.hnsw_ef = nlist, nprobe, hnsw_m, hnsw_ef
        self.timeout = timeout
        self._client: Any = None  # connected on first use: constructing a store never touches the network
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, dim: int) -> MilvusStore:
        """The collection ``APPLIANCE_MILVUS_*`` names (``milvus_uri`` must be set)."""
        if not settings.milvus_uri:
            raise ValueError("APPLIANCE_MILVUS_URI is not set")
        return cls(
            settings.milvus_uri,
            dim,
            collection=settings.milvus_collection,
            token=settings.milvus_token,
            index_type=settings.milvus_index_type,
            nlist=settings.milvus_nlist,
            nprobe=settings.milvus_nprobe,
            hnsw_m=settings.milvus_hnsw_m,
            hnsw_ef=settings.milvus_hnsw_ef,
        )

    def _connect(self, timeout: float) -> Any:
        return MilvusClient(uri=self.uri, token=self.token or "", timeout=timeout)

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                with self._errors("connect"):
                    self._client = self._connect(self.timeout or CONNECT_TIMEOUT)
            return self._client

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except MilvusException as exc:
            raise VectorIndexError(f"Milvus at {self.uri}: cannot {what}: {exc.message}") from exc

    def _in_partition(
        self, name: str, missing: T, method: Callable[..., T], *, stale_ok: bool = False, **kwargs: Any
    ) -> T:
        """Call ``method`` on a tenant's partition; a missing partition holds nothing. Asking Milvus
        about the partition only after a failure keeps that round trip off the hot path.
        ``stale_ok``: a read that may lag (Bounded) may not see a partition created seconds ago
        yet; it holds nothing that read could have seen."""
        try:
            return method(self.collection, timeout=self.timeout, **kwargs)
        except MilvusException as exc:
            what = f"{method.__name__} in partition {name}"
            with self._errors(what):
                if not self.client.has_partition(self.collection, name, timeout=self.timeout):
                    return missing
            if stale_ok and "not found" in str(exc.message):
                return missing
            raise VectorIndexError(f"Milvus at {self.uri}: cannot {what}: {exc.message}") from exc

    def _fields(self) -> dict[str, dict[str, Any]] | None:
        if not self.client.has_collection(self.collection, timeout=self.timeout):
            return None
        described = self.client.describe_collection(self.collection, timeout=self.timeout)
        return {field["name"]: field for field in described["fields"]}

    def existing_dim(self) -> int | None:
        with self._errors(f"describe collection {self.collection!r}"):
            fields = self._fields()
        return _dim(fields[VECTOR]) if fields and VECTOR in fields else None

    def built_index_type(self) -> str | None:
        with self._errors(f"describe the index of {self.collection!r}"):
            if not self.client.has_collection(self.collection, timeout=self.timeout):
                return None
            names = self.client.list_indexes(self.collection, field_name=VECTOR, timeout=self.timeout)
            if not names:
                return None
            described = self.client.describe_index(self.collection, names[0], timeout=self.timeout)
        return str(described["index_type"]).upper()

    def _index_params(self) -> Any:
        params = {"IVF_FLAT": {"nlist": self.nlist}, "HNSW": {"M": self.hnsw_m, "efConstruction": 200}}
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            field_name=VECTOR,
            index_type=self.index_type,
            metric_type=METRIC,
            params=params.get(self.index_type, {}),
        )
        return index_params

    def _create(self) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID, DataType.VARCHAR, max_length=36, is_primary=True)
        schema.add_field(CUSTOMER, DataType.VARCHAR, max_length=36)
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=self.dim)
        try:  # with index params, Milvus also builds the index and loads the collection
            self.client.create_collection(
                self.collection, schema=schema, index_params=self._index_params(), timeout=self.timeout
            )
        except MilvusException:
            # Another process may have just created it: the schema check judges what is there.
            if not self.client.has_collection(self.collection, timeout=self.timeout):
                raise

    def ensure_collection(self) -> None:
        """Create, index and load the collection when missing (idempotent)."""
        with self._errors(f"ensure collection {self.collection!r}"):
            fields = self._fields()
            if fields is None:
                self._create()
                fields = self._fields() or {}
            kinds = {name: field.get("type") for name, field in fields.items()}
            if kinds != SCHEMA or not fields[ID].get("is_primary"):
                found = {name: getattr(kind, "name", kind) for name, kind in kinds.items()}
                raise VectorIndexError(
                    f"Milvus at {self.uri}: collection {self.collection!r} has an unexpected schema {found}"
                )
            if _dim(fields[VECTOR]) != self.dim:
                raise DimensionMismatchError(self.collection, _dim(fields[VECTOR]), self.dim)
            if not self.client.list_indexes(self.collection, field_name=VECTOR, timeout=self.timeout):
                self.client.create_index(self.collection, self._index_params(), timeout=self.timeout)
            state = self.client.get_load_state(self.collection, timeout=self.timeout)["state"]
            if getattr(state, "name", "") != "Loaded":
                self.client.load_collection(self.collection, timeout=self.timeout)
        # Search with the parameters of the index actually built, whatever is configured now.
        self.index_type = self.built_index_type() or self.index_type

    def drop_collection(self) -> None:
        with self._errors(f"drop collection {self.collection!r}"):
            if self.client.has_collection(self.collection, timeout=self.timeout):
                self.client.drop_collection(self.collection, timeout=self.timeout)

    def ensure_partition(self, tenant_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        with self._errors(f"ensure partition {name}"):
            if not self.client.has_partition(self.collection, name, timeout=self.timeout):
                self.client.create_partition(self.collection, name, timeout=self.timeout)
            self.client.load_partitions(self.collection, [name], timeout=self.timeout)

    def drop_partition(self, tenant_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        with self._errors(f"drop partition {name}"):
            if self.client.has_partition(self.collection, name, timeout=self.timeout):
                # Milvus refuses to drop a loaded partition.
                self.client.release_partitions(self.collection, [name], timeout=self.timeout)
                self.client.drop_partition(self.collection, name, timeout=self.timeout)

    def tenant_partitions(self) -> list[uuid.UUID]:
        with self._errors("list partitions"):
            names = self.client.list_partitions(self.collection, timeout=self.timeout)
        return [uuid.UUID(hex=name[2:]) for name in names if re.fullmatch(r"t_[0-9a-f]{32}", name)]

    def upsert(
        self,
        tenant_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        customer_ids: Sequence[uuid.UUID],
        vectors: np.ndarray[Any, Any],
    ) -> None:
        """Insert or replace vectors (float32 [n, dim], already L2-normalised) in the tenant's partition."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1:] != (self.dim,) or not len(ids) == len(customer_ids) == len(vectors):
            raise ValueError(
                f"upsert needs n ids, n customer ids and an [n, {self.dim}] array; "
                f"got {len(ids)}, {len(customer_ids)} and {vectors.shape}"
            )
        name = partition_name(tenant_id)
        with self._errors(f"upsert into partition {name}"):
            for start in range(0, len(ids), CHUNK):
                end = start + CHUNK
                rows = [
                    {ID: str(id_), CUSTOMER: str(customer), VECTOR: vector}
                    for id_, customer, vector in zip(
                        ids[start:end], customer_ids[start:end], vectors[start:end], strict=True
                    )
                ]
                self.client.upsert(self.collection, rows, partition_name=name, timeout=self.timeout)

    def delete(self, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        name = partition_name(tenant_id)
        for start in range(0, len(ids), CHUNK):
            chunk = [str(id_) for id_ in ids[start : start + CHUNK]]
            self._in_partition(name, None, self.client.delete, ids=chunk, partition_name=name)

    def delete_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        self._in_partition(
            name, None, self.client.delete, filter=_customer_filter(customer_id), partition_name=name
        )

    def search(
        self, tenant_id: uuid.UUID, queries: np.ndarray[Any, Any], top_k: int, consistency: str = CONSISTENCY
    ) -> list[list[SearchHit]]:
        """Best ``top_k`` hits per query (float32 [q, dim]), best first, within the tenant's partition.
        ``consistency``: "Bounded" for a caller that holds the last seconds' writes itself."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.shape[1:] != (self.dim,):
            raise ValueError(f"search needs a [q, {self.dim}] array, got {queries.shape}")
        if not len(queries):
            return []
        # Milvus refuses an HNSW search whose ef is below top_k.
        params = {"IVF_FLAT": {"nprobe": self.nprobe}, "HNSW": {"ef": max(self.hnsw_ef, top_k)}}
        name = partition_name(tenant_id)
        results: list[list[Any]] = self._in_partition(
            name,
            [[] for _ in queries],
            self.client.search,
            data=list(queries),
            limit=top_k,
            output_fields=[CUSTOMER],
            search_params={"metric_type": METRIC, "params": params.get(self.index_type, {})},
            partition_names=[name],
            consistency_level=consistency,
            stale_ok=consistency != CONSISTENCY,
        )
        return [
            [
                SearchHit(
                    id=uuid.UUID(hit["id"]),
                    customer_id=uuid.UUID(hit["entity"][CUSTOMER]),
                    score=float(hit["distance"]),
                )
                for hit in hits
            ]
            for hits in results
        ]

    def _count(self, name: str, expr: str) -> int:
        rows: list[dict[str, Any]] = self._in_partition(
            name,
            [],
            self.client.query,
            filter=expr,
            output_fields=["count(*)"],
            partition_names=[name],
            consistency_level=CONSISTENCY,
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def count(self, tenant_id: uuid.UUID) -> int:
        return self._count(partition_name(tenant_id), "")

    def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        return self._count(partition_name(tenant_id), _customer_filter(customer_id))

    def reachable(self) -> bool:
        """Whether the server answers now; never raises, gives up after about two seconds."""
        try:
            with self._lock:
                if self._client is None:
                    self._client = self._connect(PROBE_TIMEOUT)
                client = self._client
            client.get_server_version(timeout=PROBE_TIMEOUT)
        except Exception:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _dim(field: dict[str, Any]) -> int:
    return int(field.get("params", {}).get("dim", 0))


def _customer_filter(customer_id: uuid.UUID) -> str:
    return f'{CUSTOMER} == "{customer_id}"'  # a UUID's text needs no escaping
