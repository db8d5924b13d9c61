"""``appliance install`` / ``uninstall`` (site box, systemd) and ``install edge`` / ``uninstall edge``
(Mac Mini, launchd). The work is :mod:`appliance.install`; this module only maps options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from appliance.cli.common import console, fail

Root = Annotated[
    Path | None,
    typer.Option("--root", help="install into this staging root instead of / (paths in the units follow)"),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="print every action; change nothing")]


def _echo(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    install_app = typer.Typer(
        help=(
            "Install or upgrade this box: preflight, data dir, settings, signing keys, database (migrate), "
            "systemd units (appliance.service, appliance-purge.timer), first tenant admin. "
            "`install edge`: the launchd agent of a Mac Mini edge."
        ),
        invoke_without_command=True,
    )
    install_app.callback()(install_site)
    install_app.command("edge", help="Write (and load) the launchd agent of the edge worker (macOS).")(
        install_edge
    )
    app.add_typer(install_app, name="install")
    uninstall_app = typer.Typer(
        help="Remove the units and the binary; the data, settings and database stay unless --purge-data.",
        invoke_without_command=True,
    )
    uninstall_app.callback()(uninstall_site)
    uninstall_app.command("edge", help="Unload and remove the edge's launchd agent.")(uninstall_edge)
    app.add_typer(uninstall_app, name="uninstall")


def register_edge(app: typer.Typer) -> None:
    """The edge-only binary: ``install edge`` and ``uninstall edge``."""
    install_app = typer.Typer(help="Install the edge worker's launchd agent.", no_args_is_help=True)
    install_app.command("edge", help="Write (and load) the launchd agent of the edge worker (macOS).")(
        install_edge
    )
    app.add_typer(install_app, name="install")
    uninstall_app = typer.Typer(help="Remove the edge worker's launchd agent.", no_args_is_help=True)
    uninstall_app.command("edge", help="Unload and remove the edge's launchd agent.")(uninstall_edge)
    app.add_typer(uninstall_app, name="uninstall")


def install_site(
    ctx: typer.Context,
    root: Root = None,
    dry_run: DryRun = False,
    database_url: Annotated[
        str | None, typer.Option(help="owner connection (default: kept, else postgres@127.0.0.1/appliance)")
    ] = None,
    app_role: Annotated[
        str | None, typer.Option(help="the API's non-owner database role (default: kept, else appliance_app)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default: kept, else 0.0.0.0)")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default: kept, else 8080)")
    ] = None,
    public_url: Annotated[str | None, typer.Option(help="the URL browsers and edges use")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes")] = 2,
    models_dir: Annotated[Path | None, typer.Option(help="model pack (default <data dir>/models)")] = None,
    embedder: Annotated[
        str | None,
        typer.Option(help="embedder file in the models dir (default: kept, else the manifest's shipped one)"),
    ] = None,
    user: Annotated[str | None, typer.Option(help="service user (default appliance; staging: you)")] = None,
    tenant: Annotated[str | None, typer.Option(help="create this first tenant (when missing)")] = None,
    admin_user: Annotated[str, typer.Option(help="its tenant admin login")] = "admin",
    admin_password: Annotated[
        str | None, typer.Option(help="its password (default: generated and printed once)")
    ] = None,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from appliance.install.plan import InstallError
    from appliance.install.site import SiteInstaller, SiteOptions

    options = SiteOptions(
        root=(root or Path("/")).absolute(),
        database_url=database_url,
        app_role=app_role,
        host=host,
        port=port,
        public_url=public_url,
        workers=workers,
        models_dir=models_dir.absolute() if models_dir else None,
        embedder=embedder,
        user=user,
        tenant=tenant,
        admin_user=admin_user,
        admin_password=admin_password,
        dry_run=dry_run,
    )
    try:
        SiteInstaller(options, _echo).install()
    except InstallError as exc:
        fail(str(exc))


def install_edge(
    api: Annotated[str, typer.Option("--api", help="the site server's URL")],
    api_key: Annotated[str, typer.Option("--api-key", help="the site's edge API key")],
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="CAMERA_ID=SOURCE (USB index, rtsp://…); repeatable")
    ] = None,
    models_dir: Annotated[
        Path | None, typer.Option(help="model pack (default ~/Library/Application Support/appliance/models)")
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="stage into this folder instead of ~")] = None,
    dry_run: DryRun = False,
    skip_camera_check: Annotated[bool, typer.Option(help="do not open the cameras first")] = False,
) -> None:
    from appliance.install.edge import EdgeOptions
    from appliance.install.edge import install_edge as run
    from appliance.install.plan import InstallError

    options = EdgeOptions(
        api=api,
        api_key=api_key,
        cameras=camera or [],
        root=root.absolute() if root else None,
        models_dir=models_dir.absolute() if models_dir else None,
        dry_run=dry_run,
        check_cameras=not skip_camera_check,
    )
    try:
        run(options, _echo)
    except InstallError as exc:
        fail(str(exc))


def uninstall_site(
    ctx: typer.Context,
    root: Root = None,
    dry_run: DryRun = False,
    purge_data: Annotated[
        bool, typer.Option("--purge-data", help="also drop the database and delete the data dir and settings")
    ] = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from appliance.install.uninstall import UninstallOptions, uninstall_plan

    options = UninstallOptions(root=(root or Path("/")).absolute(), purge_data=purge_data, dry_run=dry_run)
    uninstall_plan(options).execute(dry_run=dry_run, echo=_echo)


def uninstall_edge(
    root: Annotated[
        Path | None, typer.Option("--root", help="the staging folder used by install edge")
    ] = None,
    dry_run: DryRun = False,
) -> None:
    from appliance.install.edge import LABEL
    from appliance.install.edge import uninstall_edge as run

    run(root.absolute() if root else None, LABEL, dry_run, _echo)
