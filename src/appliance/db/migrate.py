"""Schema migrations and the runtime role: what ``appliance migrate`` does."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from appliance.config import Settings
from appliance.db.engine import make_sync_engine, sqlalchemy_url

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Progress = Callable[[str], None]


def migrations_dir() -> Path:
    """The migration scripts, found as package data (a checkout, a wheel, a PyInstaller bundle).

    Alembic runs ``env.py`` and the revisions from files, so a build must ship them as data files
    (installer/appliance.spec does); a missing ``env.py`` is a broken build, said plainly.
    """
    folder = Path(str(resources.files("appliance.db").joinpath("migrations")))
    if not (folder / "env.py").is_file():
        raise RuntimeError(f"the migration scripts are missing from {folder}: this build is incomplete")
    return folder


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def ensure_database(settings: Settings, progress: Progress) -> bool:
    """Create the target database when missing; True when it was created."""
    url = make_url(sqlalchemy_url(settings.database_url))
    name = url.database or "postgres"
    parts = urlsplit(settings.database_url)
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    engine = make_sync_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if exists:
                return False
            progress(f"creating database {name}")
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            return True
    finally:
        engine.dispose()


def ensure_runtime_role(conn: Connection, settings: Settings) -> None:
    """The API's login role: owns nothing, not superuser, cannot bypass RLS; CRUD grants only."""
    role = settings.app_role
    if not ROLE_NAME.match(role):
        raise ValueError(f"APPLIANCE_APP_ROLE must be a plain lower-case identifier, got {role!r}")
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    verb = "ALTER" if exists else "CREATE"
    password = settings.app_database_password
    # DDL takes no bind parameters: quote the literal the standard way.
    pw_clause = " PASSWORD '" + password.replace("'", "''") + "'" if password else ""
    conn.execute(text(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE{pw_clause}"))
    db = settings.database_name
    conn.execute(text(f'GRANT CONNECT ON DATABASE "{db}" TO {role}'))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    # The runtime role may read the migration marker (readiness) but never change it.
    conn.execute(text(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}"))


def run_migrations(
    settings: Settings, progress: Progress = lambda _msg: None
) -> tuple[str | None, str | None]:
    """Create the database if missing, upgrade to head, (re)grant the runtime role.

    Idempotent: a second run changes nothing. Returns (revision before, revision after).
    """
    ensure_database(settings, progress)
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            # One migrator at a time, even when several boxes start together.
            conn.execute(text("SELECT pg_advisory_xact_lock(7254001)"))
            before = current_revision(conn)
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            progress(f"upgrading schema from {before or 'empty'} to {head_revision()}")
            command.upgrade(cfg, "head")
            after = current_revision(conn)
            progress(f"granting runtime role {settings.app_role}")
            ensure_runtime_role(conn, settings)
        return before, after
    finally:
        engine.dispose()
