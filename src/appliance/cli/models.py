"""``appliance models list | pull | verify``: the model packs in the manifest and on disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from appliance.cli.common import console, fail, out

if TYPE_CHECKING:  # the manifest module loads an HTTP client: only when a command runs
    from appliance.vision.models import ModelPack, ProgressFn

ModelsDir = Annotated[
    Path | None,
    typer.Option("--models-dir", help="models directory (default APPLIANCE_MODELS_DIR or ./models)"),
]


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="List, download and verify the face model packs.", no_args_is_help=True)
    models_app.command("list", help="The manifest: licences, sizes and what is in the models dir.")(
        list_models
    )
    models_app.command("pull", help="Download packs (verified by size and sha256, then renamed).")(pull)
    models_app.command("verify", help="Check the sha256 of every present model file; exit 1 on mismatch.")(
        verify_models
    )
    app.add_typer(models_app, name="models")


def resolve_models_dir(models_dir: Path | None) -> Path:
    if models_dir is not None:
        return models_dir
    from appliance.cli.common import settings_or_exit

    return Path(settings_or_exit().models_dir)


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    return f"{value / 1e6:.1f} MB" if value >= 1e6 else f"{value / 1e3:.0f} kB"


def list_models(models_dir: ModelsDir = None) -> None:
    directory = resolve_models_dir(models_dir)
    from rich.table import Table

    from appliance.vision.models import MANIFEST, pack_status

    table = Table(
        "pack",
        "role",
        "file",
        "size",
        "licence",
        "commercial",
        "ships",
        "present",
        title=f"models ({directory})",
    )
    for pack in MANIFEST:
        status = pack_status(pack, directory, check_hash=False)
        present = "[green]yes[/]" if status.present else "[dim]no[/]"
        if status.present and status.state == "mismatch":
            present = "[red]size differs[/]"
        ships = "[yellow]TEST ONLY[/]" if pack.test_only else ("yes" if pack.ships else "opt-in")
        commercial = "yes" if pack.commercial_use else "[yellow]no: --accept-licence[/]"
        if pack.test_only:
            commercial = "[yellow]no (test only)[/]"
        table.add_row(
            pack.name, pack.role, pack.file, _size(pack.size), pack.licence, commercial, ships, present
        )
    out.print(table)
    from appliance.vision.embed import choose_backend

    choice = choose_backend(directory / _embedder_file())
    providers = f" [{', '.join(choice.providers)}]" if choice.providers else ""
    out.print(f"embedder runtime: [bold]{choice.backend}[/]{providers} ({choice.reason})")


def _embedder_file() -> str:
    from appliance.config import ConfigError, load_settings

    try:
        return load_settings().embedder
    except ConfigError:
        return load_settings(env={}).embedder


def pull(
    names: Annotated[
        list[str] | None, typer.Argument(help="pack names (default: every pack that ships)")
    ] = None,
    models_dir: ModelsDir = None,
    accept_licence: Annotated[
        list[str] | None,
        typer.Option("--accept-licence", help="accept the (non-commercial) licence of this pack; repeatable"),
    ] = None,
    allow_test_only: Annotated[
        bool, typer.Option(help="allow the test-only stand-in (development machines only)")
    ] = False,
    allow_unpinned: Annotated[bool, typer.Option(help="allow packs without a pinned sha256")] = False,
    force: Annotated[bool, typer.Option(help="download even when a verified file is present")] = False,
) -> None:
    directory = resolve_models_dir(models_dir)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from appliance.vision.models import ModelError
    from appliance.vision.models import pull as pull_packs

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as bar:

        def progress(pack: ModelPack) -> ProgressFn:
            task = bar.add_task(pack.name, total=pack.size if not pack.archive_member else None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        try:
            results = pull_packs(
                names or [],
                directory,
                accepted=accept_licence or (),
                allow_test_only=allow_test_only,
                allow_unpinned=allow_unpinned,
                force=force,
                progress=progress,
            )
        except ModelError as exc:
            fail(str(exc))
    for result in results:
        if result.action == "failed":
            console.print(f"[bold red]failed[/] {result.pack.name}: {result.detail}")
        elif result.action == "skipped":
            console.print(f"[green]ok[/] {result.pack.file} {result.detail}")
        else:
            console.print(f"[green]pulled[/] {result.pack.name} → {result.detail}")
    if any(r.action == "failed" for r in results):
        raise SystemExit(1)


def verify_models(models_dir: ModelsDir = None) -> None:
    directory = resolve_models_dir(models_dir)
    from rich.table import Table

    from appliance.vision.models import MANIFEST, verify

    table = Table("pack", "file", "state", "sha256", title=f"verify ({directory})")
    bad = 0
    for status in verify(MANIFEST, directory):
        colour = {"ok": "green", "mismatch": "red", "unpinned": "yellow", "missing": "dim"}[status.state]
        table.add_row(
            status.pack.name, status.pack.file, f"[{colour}]{status.state}[/]", (status.sha256 or "")[:16]
        )
        bad += status.state == "mismatch"
    out.print(table)
    if bad:
        console.print(f"[bold red]{bad} model file(s) do not match the manifest[/]")
        raise SystemExit(1)
