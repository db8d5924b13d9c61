"""The ``appliance`` command line: one binary for the server, the edge worker and operations."""

from __future__ import annotations

import typer

from appliance.cli import admin, demo, edge, models, purge, reindex, server

app = typer.Typer(
    name="appliance",
    help=(
        "Retail visitor-analytics appliance.\n\n"
        "serve: run the API and dashboard. migrate: create/upgrade the database. "
        "openapi: write the OpenAPI document. config: show the effective settings. "
        "admin: create tenants, users and edge API keys. "
        "purge: delete raw snapshots past retention (for cron). "
        "models: list/pull/verify model packs. edge: run the camera worker. "
        "demo: the whole pipeline on a video of real faces. "
        "reindex: rebuild the vector index from PostgreSQL."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
server.register(app)
purge.register(app)
reindex.register(app)
models.register(app)
edge.register(app)
demo.register(app)
app.add_typer(admin.app, name="admin")


def main() -> None:
    app()
