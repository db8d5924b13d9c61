"""serve, migrate, openapi, config show."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from appliance.cli.common import console, fail, out, print_json, settings_or_exit
from appliance.config import Settings

if TYPE_CHECKING:
    from appliance.vectors.lite_server import LiteSidecar

log = logging.getLogger("appliance.vectors")


def register(app: typer.Typer) -> None:
    app.command(help="Run the API (and the dashboard) with uvicorn.")(serve)
    app.command(help="Create the database if missing, upgrade it to head and grant the runtime role.")(
        migrate
    )
    app.command(help="Write the OpenAPI JSON document.")(openapi)
    config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)
    config_app.command("show", help="Print the effective settings (secrets masked).")(config_show)
    app.add_typer(config_app, name="config")


def serve(
    host: Annotated[
        str | None, typer.Option(help="bind address (default APPLIANCE_HOST or 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port (default APPLIANCE_PORT or 8080)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    import uvicorn

    settings = settings_or_exit()

    def run() -> None:
        uvicorn.run(
            "appliance.server.asgi:app",
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_config=None,
            proxy_headers=True,
        )

    sidecar = start_milvus_sidecar(settings, workers)
    if sidecar is None:
        run()
        return
    # uvicorn re-raises a SIGTERM after its graceful shutdown; with the default action this
    # process would die before stopping the sidecar (which would then only go by its death signal).
    signal.signal(signal.SIGTERM, _raise_terminated)
    from appliance.vectors.lite_server import SidecarSupervisor

    supervisor = SidecarSupervisor(sidecar)
    supervisor.start()
    terminated = False
    try:
        run()
    except _Terminated:
        terminated = True
    finally:
        supervisor.stop()
        sidecar.stop()  # after the workers: their last write-behind flush goes to it
    if terminated:  # exit as killed by SIGTERM, as without the sidecar
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


class _Terminated(BaseException):
    """SIGTERM, as an exception that no ``except Exception`` on the way swallows."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def start_milvus_sidecar(settings: Settings, workers: int) -> LiteSidecar | None:
    """Without APPLIANCE_MILVUS_URI: Milvus Lite in a child process, its URI for the workers."""
    if settings.milvus_uri:
        return None
    from appliance.lib.logging import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    if not settings.milvus_lite_sidecar:
        if workers > 1:
            log.warning(
                "Milvus Lite opened in-process serves one process only: with --workers > 1 only the "
                "first worker to open the index can use it; set APPLIANCE_MILVUS_LITE_SIDECAR=true or "
                "APPLIANCE_MILVUS_URI",
                extra={"workers": workers},
            )
        return None
    from appliance.vectors.lite_server import LiteSidecar, SidecarError

    sidecar = LiteSidecar(settings.data_dir)
    try:
        info = sidecar.start()
    except SidecarError as exc:
        fail(str(exc))
    # Workers read their settings from the environment (appliance.server.asgi → load_settings()):
    # uvicorn imports the app in this process (1 worker) or in spawned ones that inherit it.
    os.environ["APPLIANCE_MILVUS_URI"] = info.uri
    if info.search_socket and settings.milvus_lite_search_lane:
        os.environ["APPLIANCE_MILVUS_LITE_SEARCH_SOCKET"] = info.search_socket
    return sidecar


def migrate() -> None:
    from sqlalchemy.exc import OperationalError

    from appliance.db.migrate import run_migrations

    settings = settings_or_exit()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("connecting", total=None)
        try:
            before, after = run_migrations(settings, lambda msg: bar.update(task, description=msg))
        except OperationalError as exc:
            fail(f"cannot reach PostgreSQL at {settings.database_url.split('@')[-1]}: {exc.orig}")
    if before == after:
        console.print(f"[green]database already at head[/] ({after})")
    else:
        console.print(f"[green]migrated[/] {before or 'empty'} → {after}")


def openapi(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")] = Path("docs/openapi.json"),
) -> None:
    from appliance.server.openapi import openapi_document

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {output}")


def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    values = settings_or_exit().masked()
    if as_json:
        print_json(values)
        return
    table = Table("setting", "value", title="effective settings (env APPLIANCE_*)")
    for key, value in values.items():
        table.add_row(key, str(value))
    out.print(table)
