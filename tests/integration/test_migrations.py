"""The migrations build exactly the schema the models describe, and go down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from appliance.config import Settings
from appliance.db.engine import make_sync_engine
from appliance.db.migrate import alembic_config, head_revision
from appliance.db.models import Base


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
