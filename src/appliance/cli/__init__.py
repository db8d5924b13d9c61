"""The ``appliance`` command line: one binary for the server, the edge worker and operations."""

from __future__ import annotations

from typing import Annotated

import typer

from appliance.cli import admin, demo, edge, install, models, purge, reindex, server

app = typer.Typer(
    name="appliance",
    help=(
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
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Click's plain help: flags without a value placeholder (Typer's rich panels print "<bool>"
    # after every flag) and no rich rendering on the --help path.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from appliance.lib.frozen import build_info

        info = build_info()
        typer.echo(f"appliance {info['version']} (commit {info['commit']}, {info['variant']})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print version and commit, then exit"
        ),
    ] = False,
) -> None:
    """Retail visitor-analytics appliance."""


server.register(app)
purge.register(app)
reindex.register(app)
models.register(app)
edge.register(app)
demo.register(app)
install.register(app)
app.add_typer(admin.app, name="admin")


def main() -> None:
    import multiprocessing

    # Idempotent; needed here too when the binary's entry is this function rather than __main__.
    multiprocessing.freeze_support()
    app()
