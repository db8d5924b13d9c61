"""A blocking wrapper over a Milvus server: one collection, one partition per tenant. Reads are
Strong unless the caller holds the recent writes itself (Bounded, much cheaper: ADR 0008)."""

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
    ) -> None:
        if index_type.upper() not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, not {index_type!r}")
        self.uri, self.dim, self.collection, self.token = uri, dim, collection, token
        self.index_type = index_type.upper()
        self.nlist, self.nprobe, self.hnsw_m, self.hnsw_ef = nlist, nprobe, hnsw_m, hnsw_ef
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

    def _connected(self, timeout: float) -> Any:
        with self._lock:
            if self._client is None:
                self._client = MilvusClient(uri=self.uri, token=self.token or "", timeout=timeout)
            return self._client

    @property
    def client(self) -> Any:
        with self._errors("connect"):
            return self._connected(CONNECT_TIMEOUT)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except MilvusException as exc:
            raise VectorIndexError(f"Milvus at {self.uri}: cannot {what}: {exc.message}") from exc

    def _in_partition(
        self, name: str, missing: T, method: Callable[..., T], *, stale_ok: bool = False, **kwargs: Any
    ) -> T:
        """Call ``method`` on a tenant's partition; a missing partition holds nothing (asked only
        after a failure, off the hot path). ``stale_ok``: a Bounded read may not see a partition
        created seconds ago, which holds nothing that read could have seen."""
        try:
            return method(self.collection, **kwargs)
        except MilvusException as exc:
            what = f"{method.__name__} in partition {name}"
            with self._errors(what):
                if not self.client.has_partition(self.collection, name):
                    return missing
            if stale_ok and "not found" in str(exc.message):
                return missing
            raise VectorIndexError(f"Milvus at {self.uri}: cannot {what}: {exc.message}") from exc

    def check_collection(self) -> bool:
        """Whether the collection exists; VectorIndexError when its schema or dimension is not ours."""
        with self._errors(f"describe collection {self.collection!r}"):
            if not self.client.has_collection(self.collection):
                return False
            described = self.client.describe_collection(self.collection)["fields"]
        fields = {field["name"]: field for field in described}
        kinds = {name: field.get("type") for name, field in fields.items()}
        if kinds != SCHEMA or not fields[ID].get("is_primary"):
            found = {name: getattr(kind, "name", kind) for name, kind in kinds.items()}
            raise VectorIndexError(
                f"Milvus at {self.uri}: collection {self.collection!r} has an unexpected schema {found}"
            )
        dim = int(fields[VECTOR].get("params", {}).get("dim", 0))
        if dim != self.dim:
            raise DimensionMismatchError(self.collection, dim, self.dim)
        return True

    def built_index_type(self) -> str | None:
        with self._errors(f"describe the index of {self.collection!r}"):
            if not self.client.has_collection(self.collection):
                return None
            names = self.client.list_indexes(self.collection, field_name=VECTOR)
            if not names:
                return None
            return str(self.client.describe_index(self.collection, names[0])["index_type"]).upper()

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
            self.client.create_collection(self.collection, schema=schema, index_params=self._index_params())
        except MilvusException:
            # Another process may have just created it: the schema check judges what is there.
            if not self.client.has_collection(self.collection):
                raise

    def ensure_collection(self) -> None:
        """Create, index and load the collection when missing (idempotent)."""
        if not self.check_collection():
            with self._errors(f"create collection {self.collection!r}"):
                self._create()
            self.check_collection()
        with self._errors(f"load collection {self.collection!r}"):
            if not self.client.list_indexes(self.collection, field_name=VECTOR):
                self.client.create_index(self.collection, self._index_params())
            if getattr(self.client.get_load_state(self.collection)["state"], "name", "") != "Loaded":
                self.client.load_collection(self.collection)
        # Search with the parameters of the index actually built, whatever is configured now.
        self.index_type = self.built_index_type() or self.index_type

    def drop_collection(self) -> None:
        with self._errors(f"drop collection {self.collection!r}"):
            if self.client.has_collection(self.collection):
                self.client.drop_collection(self.collection)

    def ensure_partition(self, tenant_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        with self._errors(f"ensure partition {name}"):
            if not self.client.has_partition(self.collection, name):
                self.client.create_partition(self.collection, name)
            self.client.load_partitions(self.collection, [name])

    def drop_partition(self, tenant_id: uuid.UUID) -> None:
        name = partition_name(tenant_id)
        with self._errors(f"drop partition {name}"):
            if self.client.has_partition(self.collection, name):
                self.client.release_partitions(self.collection, [name])  # a loaded one cannot go
                self.client.drop_partition(self.collection, name)

    def tenant_partitions(self) -> list[uuid.UUID]:
        with self._errors("list partitions"):
            names = self.client.list_partitions(self.collection)
        return [uuid.UUID(hex=name[2:]) for name in names if re.fullmatch(r"t_[0-9a-f]{32}", name)]

    def upsert(
        self,
        tenant_id: uuid.UUID,
        ids: Sequence[uuid.UUID],
        customer_ids: Sequence[uuid.UUID],
        vectors: np.ndarray[Any, Any],
    ) -> int:
        """Insert or replace unit vectors (float32 [n, dim]) in the tenant's partition, but zero
        vectors (never a match); how many were written."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[1:] != (self.dim,) or not len(ids) == len(customer_ids) == len(vectors):
            raise ValueError(
                f"upsert needs n ids, n customer ids and an [n, {self.dim}] array; "
                f"got {len(ids)}, {len(customer_ids)} and {vectors.shape}"
            )
        live = [i for i, vector in enumerate(vectors) if vector.any()]
        rows = [{ID: str(ids[i]), CUSTOMER: str(customer_ids[i]), VECTOR: vectors[i]} for i in live]
        name = partition_name(tenant_id)
        with self._errors(f"upsert into partition {name}"):
            for start in range(0, len(rows), CHUNK):
                self.client.upsert(self.collection, rows[start : start + CHUNK], partition_name=name)
        return len(rows)

    def delete(self, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        name = partition_name(tenant_id)
        for start in range(0, len(ids), CHUNK):
            chunk = [str(id_) for id_ in ids[start : start + CHUNK]]
            self._in_partition(name, None, self.client.delete, ids=chunk, partition_name=name)

    def search(
        self, tenant_id: uuid.UUID, queries: np.ndarray[Any, Any], top_k: int, consistency: str = CONSISTENCY
    ) -> list[list[SearchHit]]:
        """Best ``top_k`` hits per query (float32 [q, dim]), best first, within the tenant's
        partition. ``consistency``: "Bounded" for a caller that holds the last seconds' writes."""
        queries = np.asarray(queries, dtype=np.float32)
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
                SearchHit(uuid.UUID(hit["id"]), uuid.UUID(hit["entity"][CUSTOMER]), float(hit["distance"]))
                for hit in hits
            ]
            for hits in results
        ]

    def count(self, tenant_id: uuid.UUID, customer_id: uuid.UUID | None = None) -> int:
        """Vectors in the tenant's partition (of one customer)."""
        name = partition_name(tenant_id)
        rows: list[dict[str, Any]] = self._in_partition(
            name,
            [],
            self.client.query,
            filter=f'{CUSTOMER} == "{customer_id}"' if customer_id else "",  # a UUID needs no escaping
            output_fields=["count(*)"],
            partition_names=[name],
            consistency_level=CONSISTENCY,
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        return self.count(tenant_id, customer_id)

    def reachable(self) -> bool:
        """Whether the server answers now; never raises, gives up after about two seconds."""
        try:
            self._connected(PROBE_TIMEOUT).get_server_version(timeout=PROBE_TIMEOUT)
        except Exception:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
