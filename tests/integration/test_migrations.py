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
