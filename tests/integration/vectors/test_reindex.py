"""``appliance reindex`` on the real database: exemplars seeded by SQL, rebuilt into a real Milvus server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from appliance.cli import reindex as reindex_cli
from appliance.config import Settings
from appliance.db.types import embedding_bytes
from appliance.vectors.base import DimensionMismatchError, VectorIndexError
from appliance.vectors.milvus_store import MilvusStore
from tests.conftest import PG_ADMIN_URL, _admin_exec

DIM = 128


def cli() -> typer.Typer:
    """The real ``appliance`` app once ``reindex`` is wired into it, else a stand-in group."""
    from appliance.cli import app

    if any(
        command.name == "reindex" or getattr(command.callback, "__name__", "") == "reindex"
        for command in app.registered_commands
    ):
        return app
    group = typer.Typer()
    group.callback()(lambda: None)
    reindex_cli.register(group)
    return group


class Seeded:
    """Two tenants with customers and exemplars, written on the owner connection."""

    def __init__(self, url: str, counts: tuple[int, int]) -> None:
        self.url = url
        self.rng = np.random.default_rng(5)
        self.tenants = [uuid.uuid4(), uuid.uuid4()]
        self.vectors: dict[uuid.UUID, dict[uuid.UUID, np.ndarray[Any, Any]]] = {t: {} for t in self.tenants}
        with psycopg.connect(url, autocommit=True) as conn:
            for tenant, n in zip(self.tenants, counts, strict=True):
                conn.execute(
                    "INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, f"reindex-{tenant.hex[:8]}")
                )
                self.add(conn, tenant, n)

    def add(self, conn: psycopg.Connection[Any], tenant: uuid.UUID, n: int, dim: int = DIM) -> None:
        customer = uuid.uuid4()
        conn.execute("INSERT INTO customers (id, tenant_id) VALUES (%s, %s)", (customer, tenant))
        rows = []
        for i in range(n):
            if i % 4 == 0 and i:
                customer = uuid.uuid4()
                conn.execute("INSERT INTO customers (id, tenant_id) VALUES (%s, %s)", (customer, tenant))
            vector = self.rng.standard_normal(dim)
            vector /= np.linalg.norm(vector)
            exemplar = uuid.uuid4()
            self.vectors[tenant][exemplar] = vector
            rows.append((exemplar, tenant, customer, embedding_bytes(vector), 0.9, datetime.now(UTC)))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO customer_exemplars (id, tenant_id, customer_id, embedding, quality, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reindex-data")


@pytest.fixture(scope="module")
def pg_settings(pg_settings: Settings) -> Iterator[Settings]:
    """A database of its own: a full reindex sees every tenant, and other tests' exemplars
    (any dimension) must not count here."""
    from appliance.db.migrate import run_migrations

    suffix = uuid.uuid4().hex[:10]
    db_name, role = f"appliance_test_reindex_{suffix}", f"appliance_test_reindex_app_{suffix}"
    settings = msgspec.structs.replace(
        pg_settings, database_url=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{db_name}", app_role=role
    )
    run_migrations(settings)
    try:
        yield settings
    finally:
        _admin_exec(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'",
            f'DROP DATABASE IF EXISTS "{db_name}"',
            f"DROP ROLE IF EXISTS {role}",
        )


@pytest.fixture(scope="module")
def seeded(pg_settings: Settings) -> Seeded:
    return Seeded(pg_settings.database_url, (1203, 37))


COLLECTION = f"reindex_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def index(milvus_uri: str) -> Iterator[MilvusStore]:
    """The collection the CLI writes."""
    store = MilvusStore(milvus_uri, DIM, collection=COLLECTION)
    yield store
    store.drop_collection()
    store.close()


def run(pg_settings: Settings, data_dir: Path, *args: str, dim: int = DIM) -> Result:
    from tests.integration.vectors.conftest import MILVUS_URI

    env = {
        "APPLIANCE_DATABASE_URL": pg_settings.database_url,
        "APPLIANCE_APP_ROLE": pg_settings.app_role,
        "APPLIANCE_DATA_DIR": str(data_dir),
        "APPLIANCE_EMBEDDING_DIM": str(dim),
        "APPLIANCE_MILVUS_URI": MILVUS_URI[0],
        "APPLIANCE_MILVUS_COLLECTION": COLLECTION,
    }
    return CliRunner().invoke(cli(), ["reindex", *args], env=env, catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_full_reindex_fills_every_tenant(
    pg_settings: Settings, data_dir: Path, seeded: Seeded, index: MilvusStore
) -> None:
    result = run(pg_settings, data_dir)
    assert result.exit_code == 0, result.output
    assert "reindexed" in result.output and "MISMATCH" not in result.output
    a, b = seeded.tenants
    assert index.count(a) == 1203 and index.count(b) == 37
    for tenant in (a, b):
        ids = list(seeded.vectors[tenant])[:5]
        results = index.search(
            tenant, np.stack([seeded.vectors[tenant][i] for i in ids]).astype(np.float32), 3
        )
        for exemplar, hits in zip(ids, results, strict=True):
            assert hits[0].id == exemplar and hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_tenant_reindex_follows_postgres(
    pg_settings: Settings, data_dir: Path, seeded: Seeded, index: MilvusStore
) -> None:
    a, b = seeded.tenants
    removed = next(iter(seeded.vectors[a]))
    with seeded.connect() as conn:
        conn.execute("DELETE FROM customer_exemplars WHERE id = %s", (removed,))
        seeded.add(conn, a, 5)
    del seeded.vectors[a][removed]
    result = run(pg_settings, data_dir, "--tenant", str(a))
    assert result.exit_code == 0, result.output
    assert str(b) not in result.output
    assert index.count(a) == 1203 - 1 + 5 and index.count(b) == 37
    [hits] = index.search(a, np.asarray([list(seeded.vectors[a].values())[-1]], dtype=np.float32), 1)
    assert hits[0].id == list(seeded.vectors[a])[-1]


def test_unknown_tenant_fails(pg_settings: Settings, data_dir: Path, seeded: Seeded) -> None:
    result = run(pg_settings, data_dir, "--tenant", str(uuid.uuid4()))
    assert result.exit_code == 1
    assert "no tenant" in result.output


def test_a_wrong_dimension_row_is_a_mismatch(
    pg_settings: Settings, data_dir: Path, seeded: Seeded, index: MilvusStore
) -> None:
    a, _ = seeded.tenants
    with seeded.connect() as conn:
        seeded.add(conn, a, 1, dim=DIM + 1)
    try:
        result = run(pg_settings, data_dir, "--tenant", str(a))
        assert result.exit_code == 1
        assert "MISMATCH" in result.output and "do not match PostgreSQL" in flat(result.output)
    finally:
        with seeded.connect() as conn:
            conn.execute("DELETE FROM customer_exemplars WHERE length(embedding) <> %s", (4 * DIM,))
        seeded.vectors[a] = {k: v for k, v in seeded.vectors[a].items() if len(v) == DIM}


def test_dimension_change_rebuilds_the_collection(
    pg_settings: Settings, data_dir: Path, seeded: Seeded, index: MilvusStore
) -> None:
    a, _ = seeded.tenants
    result = run(pg_settings, data_dir, "--tenant", str(a), dim=64)
    assert result.exit_code == 1
    assert "without --tenant" in flat(result.output)

    ghost = uuid.uuid4()  # a partition whose tenant is gone
    index.ensure_partition(ghost)
    result = run(pg_settings, data_dir, dim=64)  # every 128-D row is skipped: a mismatch
    assert result.exit_code == 1
    assert "dropped and recreated" in flat(result.output)
    with pytest.raises(DimensionMismatchError) as raised:
        index.check_collection()
    assert raised.value.found == 64

    result = run(pg_settings, data_dir)
    assert result.exit_code == 0, result.output
    assert "dropped and recreated" in flat(result.output)
    assert index.check_collection()
    assert ghost not in index.tenant_partitions()
    assert index.count(a) == len(seeded.vectors[a])


def test_a_foreign_collection_is_replaced(
    pg_settings: Settings, data_dir: Path, seeded: Seeded, index: MilvusStore
) -> None:
    a, b = seeded.tenants
    index.drop_collection()
    index.client.create_collection(index.collection, dimension=DIM)  # id INT64 + vector only
    with pytest.raises(VectorIndexError, match="unexpected schema"):
        index.ensure_collection()
    result = run(pg_settings, data_dir, "--tenant", str(a))
    assert result.exit_code == 1 and "without --tenant" in flat(result.output)
    result = run(pg_settings, data_dir)
    assert result.exit_code == 0, result.output
    assert "dropped and recreated" in flat(result.output)
    index.ensure_collection()
    assert index.count(a) == len(seeded.vectors[a]) and index.count(b) == 37


def test_an_index_type_change_or_recreate_rebuilds_the_collection(
    pg_settings: Settings, data_dir: Path, seeded: Seeded, index: MilvusStore
) -> None:
    a, b = seeded.tenants
    index.drop_collection()
    flat_index = MilvusStore(index.uri, DIM, collection=COLLECTION, index_type="FLAT")
    try:
        flat_index.ensure_collection()
        assert flat_index.built_index_type() == "FLAT"
    finally:
        flat_index.close()

    result = run(pg_settings, data_dir, "--tenant", str(a))  # configured: IVF_FLAT
    assert result.exit_code == 1 and "without --tenant" in flat(result.output)
    result = run(pg_settings, data_dir)
    assert result.exit_code == 0, result.output
    assert "has a FLAT index, configured IVF_FLAT: the collection was dropped and recreated" in flat(
        result.output
    )
    assert index.built_index_type() == "IVF_FLAT"
    assert index.count(a) == len(seeded.vectors[a]) and index.count(b) == 37

    result = run(pg_settings, data_dir)  # nothing to change: kept
    assert result.exit_code == 0 and "recreated" not in flat(result.output)

    result = run(pg_settings, data_dir, "--recreate", "--tenant", str(a))
    assert result.exit_code == 1 and "--recreate rebuilds the whole collection" in flat(result.output)
    result = run(pg_settings, data_dir, "--recreate")
    assert result.exit_code == 0, result.output
    assert "asked to recreate the collection: the collection was dropped and recreated" in flat(result.output)
    assert index.count(a) == len(seeded.vectors[a])
