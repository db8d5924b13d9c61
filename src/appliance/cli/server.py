"""serve, migrate, openapi, config show."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from appliance.cli.common import console, fail, out, print_json, require_milvus_client, settings_or_exit
from appliance.config import Settings


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
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default APPLIANCE_PORT or 8080)")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    import logging

    import uvicorn

    from appliance.lib.logging import configure_logging
    from appliance.server.asgi import settings_for_workers
    from appliance.server.bind import public_url_problem

    settings = settings_or_exit()
    options = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if options:  # presigned local-store URLs and logs name this address
        settings = msgspec.structs.replace(settings, **options)
    require_milvus_client(settings)
    configure_logging(settings.log_level, settings.log_json)
    log = logging.getLogger("appliance.serve")
    data_dir, models_dir = Path(settings.data_dir).resolve(), Path(settings.models_dir).resolve()
    log.info(
        "serving on http://%s:%d with %d worker(s); public URL %s; data dir %s; models dir %s",
        settings.host,
        settings.port,
        workers,
        settings.base_url,
        data_dir,
        models_dir,
        extra={
            "host": settings.host,
            "port": settings.port,
            "workers": workers,
            "public_url": settings.base_url,
            "data_dir": str(data_dir),
            "models_dir": str(models_dir),
        },
    )
    warnings = startup_warnings(settings)
    for warning in warnings:
        log.warning(warning)
    if sys.stdout.isatty():  # a person started it: the same in plain words, above the JSON lines
        console.print(
            f"dashboard [bold]{settings.base_url}/[/] · data dir {data_dir} · models dir {models_dir}",
            highlight=False,
        )
        for warning in warnings:
            console.print(f"[yellow]note:[/] {warning}", highlight=False)
    problem = public_url_problem(settings)
    if problem:
        log.warning(
            "%s: presigned snapshot URLs will not reach this server unless a proxy forwards them", problem
        )
    # Worker processes are spawned: they get these very settings from the one variable the
    # factory reads, not by rewriting the operator's APPLIANCE_* variables.
    handed = settings_for_workers(settings)
    os.environ.update(handed)
    try:
        uvicorn.run(
            "appliance.server.asgi:create",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=None,
            proxy_headers=True,
            # X-Forwarded-* only from the configured proxies (uvicorn trusts 127.0.0.1 by default,
            # which let a local caller pick its address and dodge the login rate limit).
            forwarded_allow_ips=[p.strip() for p in settings.trusted_proxies.split(",") if p.strip()],
        )
    finally:  # this process may go on (a test's in-process CLI): later apps read their own settings
        for key in handed:
            os.environ.pop(key, None)


def startup_warnings(settings: Settings) -> list[str]:
    """What a newcomer would otherwise learn from a 404 or a 503: where serve looks, what is missing."""
    from appliance.server.spa import static_root
    from appliance.vision.faces import DETECTOR_FILE

    warnings = []
    models = Path(settings.models_dir).resolve()
    missing = [name for name in (DETECTOR_FILE, settings.embedder) if not (models / name).is_file()]
    if missing:
        warnings.append(
            f"models dir {models} has no {' and no '.join(missing)}: staff photo enrolment answers 503 "
            "until they are there (`appliance models pull`, or point APPLIANCE_MODELS_DIR at them; "
            "`make serve` sets it)"
        )
    objects = Path(settings.data_dir).resolve() / "objects"
    if not settings.s3_endpoint and not objects.is_dir():
        warnings.append(
            f"data dir {objects.parent} holds no snapshots yet: if `appliance demo` ran with another "
            "APPLIANCE_DATA_DIR, its face images are not found here"
        )
    root = static_root()
    if root is None or not (root / "index.html").is_file():
        warnings.append("the dashboard is not built (appliance/static): `make web`, or use `make demo`")
    return warnings


def migrate() -> None:
    from sqlalchemy.exc import OperationalError

    from appliance.db.migrate import run_migrations

    settings = settings_or_exit()
    from rich.progress import Progress, SpinnerColumn, TextColumn

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
    settings = settings_or_exit()
    values = settings.masked()
    if as_json:
        print_json(values)
        return
    from rich.table import Table

    table = Table("setting", "value", title="effective settings (env APPLIANCE_*)")
    for key, value in values.items():
        shown = str(value)
        if key in ("data_dir", "models_dir") and not Path(shown).is_absolute():
            shown += f" (→ {Path(shown).resolve()})"  # relative to where the command runs
        table.add_row(key, shown)
    out.print(table)
    for warning in startup_warnings(settings):
        console.print(f"[yellow]note:[/] {warning}")
