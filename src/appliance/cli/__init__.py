"""The ``appliance`` command line: one binary for the server, the edge worker and operations."""

from __future__ import annotations

from appliance.cli import admin, demo, edge, install, models, purge, reindex, server
from appliance.cli.common import root_app

app = root_app(
    "appliance",
    (
        "Retail visitor-analytics appliance.\n\n"
        "serve: run the API and dashboard. migrate: create/upgrade the database. "
        "openapi: write the OpenAPI document. config: show the effective settings. "
        "admin: create and list tenants, sites, users and edge API keys. "
        "purge: delete raw snapshots past retention (for cron). "
        "models: list/pull/verify model packs. edge: run the camera worker. "
        "demo: the whole pipeline on a video of real faces. "
        "reindex: rebuild the vector index from PostgreSQL. "
        "install / uninstall: this box as systemd services, or (install edge) a Mac Mini edge agent."
    ),
    # Click's plain help: flags without a value placeholder (Typer's rich panels print "<bool>"
    # after every flag) and no rich rendering on the --help path.
    rich_markup_mode=None,
)

server.register(app)
purge.register(app)
reindex.register(app)
models.register(app)
edge.register(app)
demo.register(app)
install.register(app)
app.add_typer(admin.app, name="admin")


SERVER_PACKAGES = frozenset(
    {"litestar", "sqlalchemy", "alembic", "psycopg", "jwt", "cryptography", "argon2", "uvicorn"}
    | {"httptools", "uvloop", "pymilvus", "simsimd", "minio", "apscheduler", "tenacity", "PIL"}
)
"""Top-level modules of the ``server`` extra: an edge-only install (``pip install 'appliance[edge]'``)
lacks them, and the commands that need them say so instead of printing a traceback. Kept by hand
(a frozen binary has no pyproject.toml); tests/unit/test_server_packages.py checks it against the extra."""


def main() -> None:
    import multiprocessing
    import sys

    # Idempotent; needed here too when the binary's entry is this function rather than __main__.
    multiprocessing.freeze_support()
    try:
        app()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVER_PACKAGES:
            raise
        sys.exit(
            f"this command needs the server stack, which this install lacks ({exc.name} is not installed):"
            " pip install 'appliance[server]' — or use appliance-edge, the edge's own command line"
        )
