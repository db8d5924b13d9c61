"""One real PostgreSQL database (and runtime role) per test run, dropped afterwards."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from appliance.config import Settings, load_settings

# Milvus Lite logs from an atexit hook after pytest closed its capture streams; don't print
# "--- Logging error ---" tracebacks for that.
logging.raiseExceptions = False

PG_ADMIN_URL = os.environ.get("APPLIANCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# The product's default embedder is the one the manifest ships; the development/CI models folder
# holds the test-only stand-in, so the tests (and every process they start) name it explicitly.
TEST_EMBEDDER = "paddle_mobileface_arcface_128d.onnx"
os.environ.setdefault("APPLIANCE_EMBEDDER", TEST_EMBEDDER)


def _admin_exec(*statements: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Migrated database ``appliance_test_<hex>`` with its own non-owner runtime role."""
    from appliance.db.migrate import run_migrations

    suffix = uuid.uuid4().hex[:10]
    db_name, role = f"appliance_test_{suffix}", f"appliance_test_app_{suffix}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    settings = load_settings(
        env={},
        database_url=f"{base}/{db_name}",
        app_role=role,
        data_dir=str(tmp_path_factory.mktemp("data")),
        log_json=True,
        rate_limit_auth_per_minute=100_000,
        rate_limit_ingest_per_second=100_000,
        embedding_dim=128,
        embedder=os.environ["APPLIANCE_EMBEDDER"],
        scheduler=False,
        # The areas' tests post events at fixed dates (2026-11-20 …); tests/integration/trust
        # checks the default window.
        captured_at_max_age_seconds=3650 * 24 * 3600,
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


@pytest.fixture(scope="session")
def data_dir(pg_settings: Settings) -> Path:
    return Path(pg_settings.data_dir)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The real models, read in place (never copied): APPLIANCE_MODELS_DIR, else ``../shared/models``."""
    from appliance.demo import resolve_models_dir

    return resolve_models_dir(load_settings())


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The real face photos: APPLIANCE_TEST_FACES_DIR, else ``../shared/faces`` beside the repo."""
    from appliance.demo import DEFAULT_FACES

    return Path(os.environ.get("APPLIANCE_TEST_FACES_DIR", DEFAULT_FACES)).resolve()
