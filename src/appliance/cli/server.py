"""serve, migrate, openapi, config show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from appliance.cli.common import console, fail, out, print_json, settings_or_exit


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
    uvicorn.run(
        "appliance.server.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
    )


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
