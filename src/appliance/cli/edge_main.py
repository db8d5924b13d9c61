"""``appliance-edge``: the edge-only command line of the Mac Mini build (installer/appliance-edge.spec).

Capture, models, queue and upload only: ``edge``, ``models``, ``install edge`` / ``uninstall edge``
and ``--version``. Nothing here imports the server stack (Litestar, SQLAlchemy, PostgreSQL, the
vector index), which the edge build leaves out.
"""

from __future__ import annotations

from typing import Annotated

import typer

from appliance.cli import edge, install, models

app = typer.Typer(
    name="appliance-edge",
    help=(
        "Edge worker of the visitor-analytics appliance.\n\n"
        "edge: run the camera worker. models: list/pull/verify model packs. "
        "install edge / uninstall edge: the launchd agent (macOS)."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from appliance.lib.frozen import build_info

        info = build_info()
        typer.echo(f"appliance-edge {info['version']} (commit {info['commit']}, {info['variant']})")
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
    """Edge worker of the visitor-analytics appliance."""


edge.register(app)
models.register(app)
install.register_edge(app)


def main() -> None:
    import multiprocessing

    multiprocessing.freeze_support()
    app()


if __name__ == "__main__":
    main()
