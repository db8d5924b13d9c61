"""The migrations build exactly the schema the models describe, go down and up again, and the
released ones keep emitting the SQL installed databases ran."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from appliance.config import Settings
from appliance.db.engine import make_sync_engine
from appliance.db.migrate import alembic_config, head_revision
from appliance.db.models import Base

# Installed databases ran these revisions: each must keep emitting the same SQL, whatever the
# revisions and db/migrations/helpers.py become. Per revision, the sha256 of its offline
# (`--sql`) upgrade and downgrade; 0004's downgrade reads rows, so only its upgrade counts.
# A released revision joins this list. Should a SQLAlchemy or Alembic upgrade change only how the
# SQL is spelled, compare the offline SQL before and after and record the new hashes.
RELEASED = "0014"
RELEASED_SQL_SHA256 = {
    "0001": "361955c52e320d281e63f59a121a0954d8e32d7ea6e93109c2456b96f0754145",
    "0002": "80be55163b903a338b1fb7f6c7a8429b21241173343cd1b92e1906da2dceda43",
    "0003": "1522ba21abbdf30e95d981afa6fecdb75629719dd19954a0d53e51f79bf06053",
    "0004": "c6fe39752397bf6bd59270f11536b9e82e71cf60152de4aab3dc128075465966",
    "0005": "6513c2cc64577ff7e02fe153ef4867347ade0a4627e0c422dc46a9a171f1cfcf",
    "0006": "cf733c752ae527939c2301c02a67d07511bfd1dbe2813bd2844fd02f602bd0ec",
    "0007": "eb95974f221bc7a877eb96c6a413cc74ffef77dff40647d5395f924b1878c42e",
    "0008": "80f535c4bc8133b710c760203cea4a2f399b68f3a7e41407df5bd69f13de8aa9",
    "0009": "a631c71a383baf52ac9596dd0b606a8fa6d9ac862e47ede0237c64870e28fa21",
    "0010": "f555c6acd9995c5ddc98f5abe1401a3233bb66b4e990ab3da3f4c0dae891e378",
    "0011": "bff30f1737cfcff58c3d369eaddeff05c9c90b53b77dd282289059e85b128227",
    "0012": "62e44827d9d47297e62c72777a47049742570574061c2fe59b4e00849f622ec0",
    "0013": "3687a559de87ab0755f72186c919f5232b5c36ffecd938483b0ad9f6bc86877b",
    "0014": "fdc10ba0e373e73cd52baa119b1e910098d2d829f1364e34419d84dbe5ef28cd",
}


def test_models_and_migrations_agree(pg_settings: Settings) -> None:
    engine = make_sync_engine(pg_settings.database_url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(tmp_path: object) -> None:
    import uuid

    import psycopg

    from appliance.config import load_settings
    from appliance.db.migrate import run_migrations

    name = f"appliance_mig_{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        env={}, database_url=f"postgresql://postgres@127.0.0.1:5432/{name}", app_role=name
    )
    run_migrations(settings)
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
            assert MigrationContext.configure(conn).get_current_revision() is None
            command.upgrade(cfg, "head")
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        engine.dispose()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            admin.execute(f"DROP ROLE IF EXISTS {name}")  # type: ignore[arg-type]


def test_embeddings_survive_the_move_to_bytes_and_back() -> None:
    """0004 turns real[] into big-endian float32 bytes exactly, and its downgrade restores them."""
    import uuid

    import numpy as np
    import psycopg

    from appliance.config import load_settings
    from appliance.db.migrate import run_migrations
    from appliance.db.types import embedding_array

    name = f"appliance_mig_{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        env={}, database_url=f"postgresql://postgres@127.0.0.1:5432/{name}", app_role=name
    )
    run_migrations(settings)
    vector = np.random.default_rng(4).standard_normal(512).astype(np.float32)
    tenant, customer = uuid.uuid4(), uuid.uuid4()
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("INSERT INTO tenants (id, name) VALUES (%s, 'mig')", (tenant,))
            raw.execute("INSERT INTO customers (id, tenant_id) VALUES (%s, %s)", (customer, tenant))
            raw.execute(
                "INSERT INTO customer_exemplars (tenant_id, customer_id, embedding, quality, created_at)"
                " VALUES (%s, %s, %s, 0.9, now())",
                (tenant, customer, vector.tolist()),
            )
            command.upgrade(cfg, "0004")
            stored = raw.execute("SELECT embedding FROM customer_exemplars").fetchone()
            assert stored is not None
            assert np.array_equal(embedding_array(stored[0]), vector)
            command.downgrade(cfg, "0003")
            back = raw.execute("SELECT embedding FROM customer_exemplars").fetchone()
            assert back is not None
            assert np.array_equal(np.asarray(back[0], dtype=np.float32), vector)
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            admin.execute(f"DROP ROLE IF EXISTS {name}")  # type: ignore[arg-type]


def _offline_sql(conn: Connection, run: Callable[..., None], revisions: str) -> dict[str, str]:
    """The SQL ``run`` (upgrade or downgrade) writes offline over ``revisions``, per revision."""
    buffer = io.StringIO()
    cfg = alembic_config()
    cfg.attributes["connection"] = conn  # offline: only its dialect is used, nothing executes
    cfg.output_buffer = buffer
    run(cfg, revisions, sql=True)
    # "-- Running upgrade 0002 -> 0003" / "-- Running downgrade 0003 -> 0002" head each revision's SQL.
    parts = re.split(r"^-- Running (upgrade|downgrade) (\S*) -> (\S*)$", buffer.getvalue(), flags=re.M)
    return {
        source if direction == "downgrade" else target: sql
        for direction, source, target, sql in zip(
            parts[1::4], parts[2::4], parts[3::4], parts[4::4], strict=True
        )
    }


def test_released_revisions_emit_the_sql_they_were_applied_with(pg_settings: Settings) -> None:
    engine = make_sync_engine(pg_settings.database_url)
    try:
        with engine.connect() as conn:
            upgrades = _offline_sql(conn, command.upgrade, f"base:{RELEASED}")
            downgrades = {
                **_offline_sql(conn, command.downgrade, f"{RELEASED}:0004"),
                **_offline_sql(conn, command.downgrade, "0003:base"),
            }
    finally:
        engine.dispose()
    emitted = {
        revision: hashlib.sha256((sql + downgrades.get(revision, "")).encode()).hexdigest()
        for revision, sql in upgrades.items()
    }
    assert emitted == RELEASED_SQL_SHA256
