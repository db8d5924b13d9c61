"""``appliance purge``: delete raw snapshots past retention, verify, clear the references."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from appliance.cli.common import console, fail, out, print_json, settings_or_exit

if TYPE_CHECKING:
    from rich.progress import Progress

    from appliance.jobs.purge_report import PurgeReport

HELP = (
    "Delete raw face snapshots older than the retention period (default APPLIANCE_RAW_RETENTION_DAYS"
    " days) from faces-raw, verify each one is gone, then clear sightings.image_path; also delete"
    " unreferenced raw objects past the cutoff. Exit code 1 when any deletion could not be verified."
)


def register(app: typer.Typer) -> None:
    app.command("purge", help=HELP)(purge)


def _older_than(value: str | None) -> str | None:
    """Validate early, so a typo is a usage error (exit 2) before anything is touched."""
    from appliance.jobs.purge_report import parse_duration

    if value is not None:
        try:
            parse_duration(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return value


def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be deleted; change nothing")
    ] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            callback=_older_than,
            help="age cutoff such as 30d, 12h or 90m (default: APPLIANCE_RAW_RETENTION_DAYS days)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    from datetime import timedelta

    from sqlalchemy.exc import DBAPIError

    from appliance.db.engine import Database, make_async_engine
    from appliance.jobs.purge import PurgeService
    from appliance.jobs.purge_report import PurgeAbortedError, parse_duration
    from appliance.storage.base import ObjectStoreError
    from appliance.storage.factory import object_store_from_settings

    settings = settings_or_exit()
    age = parse_duration(older_than) if older_than else timedelta(days=settings.raw_retention_days)
    try:
        store = object_store_from_settings(settings)
    except ObjectStoreError as exc:
        fail(str(exc))

    async def go(progress: Progress) -> PurgeReport:
        task = progress.add_task("connecting", total=None)
        # The owner connection, like `appliance admin`; every query also names its tenant, so the
        # result is the same whether or not that role is subject to row-level security.
        db = Database(make_async_engine(settings.database_url, pool_size=1))
        try:
            service = PurgeService(db, store)
            return await service.run(
                age, dry_run=dry_run, progress=lambda msg: progress.update(task, description=msg)
            )
        finally:
            await db.dispose()

    import asyncio

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        try:
            report = asyncio.run(go(bar))
        except PurgeAbortedError as exc:
            report = exc.report
            _show(report, as_json)
            fail(str(exc))
        except ObjectStoreError as exc:
            fail(str(exc))
        except DBAPIError as exc:
            diag = getattr(exc.orig, "diag", None)
            fail(f"database error: {getattr(diag, 'message_primary', None) or exc.orig}")

    _show(report, as_json)
    if report.failed:
        console.print(
            f"[bold red]{report.failed} object(s) could not be deleted or verified;"
            " their rows were left untouched and the next run retries them[/]"
        )
        for message in report.errors:
            console.print(f"  [red]•[/] {message}")
        raise SystemExit(1)


def _show(report: PurgeReport, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    title = "retention purge" + (" (dry run: nothing changed)" if report.dry_run else "")
    from rich.table import Table

    table = Table("", "count", title=title)
    rows = [
        ("cutoff", report.cutoff.isoformat(timespec="seconds")),
        ("tenants scanned", report.tenants),
        ("sightings past cutoff with a snapshot", report.candidates),
        ("objects deleted", report.deleted),
        ("objects already missing", report.already_missing),
        ("sightings verified and cleared", report.verified),
        ("visit snapshots cleared", report.visits_cleared),
        ("unreferenced objects past cutoff", report.orphans),
        ("unreferenced objects deleted", report.orphans_deleted),
        ("expired browser sessions", report.sessions_expired),
        ("failed", report.failed),
    ]
    for label, value in rows:
        style = "bold red" if label == "failed" and value else None
        table.add_row(label, str(value), style=style)
    out.print(table)
