"""``appliance reindex``: rebuild the Milvus collection from PostgreSQL."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from appliance.cli.common import console, fail, out, require_milvus_client, settings_or_exit
from appliance.config import ConfigError, mask_url

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def register(app: typer.Typer) -> None:
    app.command(
        help=(
            "Rebuild the Milvus collection (APPLIANCE_MILVUS_URI) from the exemplars in PostgreSQL: "
            "per tenant, drop and refill its partition and check the counts match (exit 1 if not). "
            "Without --tenant every tenant is rebuilt and a collection of another dimension is "
            "recreated. The embedded index (no APPLIANCE_MILVUS_URI) reads PostgreSQL itself and "
            "needs no rebuild."
        )
    )(reindex)


class _Bar:
    """Feeds the reindex progress into a rich progress bar, one task per tenant."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def tenant_started(self, tenant_id: uuid.UUID, name: str, total: int) -> None:
        self.task = self.progress.add_task(name, total=total)

    def advanced(self, rows: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, rows)


def reindex(
    tenant: Annotated[
        uuid.UUID | None, typer.Option(help="rebuild only this tenant's partition (default: all)")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="rows per upsert")] = 1000,
    recreate: Annotated[
        bool,
        typer.Option(
            help="drop and rebuild the whole collection (after changing APPLIANCE_MILVUS_NLIST or _HNSW_M)"
        ),
    ] = False,
) -> None:
    if recreate and tenant is not None:
        fail("--recreate rebuilds the whole collection: run it without --tenant")
    settings = settings_or_exit()
    if not settings.milvus_uri:
        console.print(
            "the embedded vector index reads the exemplars from PostgreSQL in each API process: "
            "nothing to rebuild (set APPLIANCE_MILVUS_URI to rebuild a Milvus collection)"
        )
        return
    require_milvus_client(settings)
    from pymilvus import MilvusException
    from sqlalchemy.exc import DBAPIError

    from appliance.db.engine import Database, make_async_engine
    from appliance.recognition.embedding_dim import embedding_dim_from_settings
    from appliance.vectors.base import VectorIndexError
    from appliance.vectors.milvus_store import MilvusStore
    from appliance.vectors.reindex import ReindexReport
    from appliance.vectors.reindex import reindex as run_reindex

    try:
        dim = embedding_dim_from_settings(settings)
        index = MilvusStore.from_settings(settings, dim)
    except (ConfigError, VectorIndexError, ValueError) as exc:
        fail(str(exc))

    async def go(bar: _Bar) -> ReindexReport:
        db = Database(make_async_engine(settings.database_url, pool_size=1))
        try:
            return await run_reindex(db, index, tenant, bar, batch_size, recreate=recreate)
        finally:
            await db.dispose()

    import asyncio

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            report = asyncio.run(go(_Bar(progress)))
    except VectorIndexError as exc:
        fail(str(exc))
    except MilvusException as exc:
        fail(f"Milvus error: {exc.message}")
    except DBAPIError as exc:
        fail(f"PostgreSQL error: {exc.orig}")
    finally:
        index.close()

    uri = mask_url(settings.milvus_uri)
    console.print(f"collection [bold]{report.collection}[/] ({report.dim}-D) at {uri}")
    if report.recreated_collection:
        console.print(f"[yellow]{report.recreated_because}: the collection was dropped and recreated[/]")
    for leftover in report.dropped_partitions:
        console.print(f"dropped the partition of deleted tenant {leftover}")
    from rich.table import Table

    table = Table("tenant", "name", "postgres", "milvus", "skipped", "status", title="reindex")
    for row in report.tenants:
        status = "[green]ok[/]" if row.ok else "[red]MISMATCH[/]"
        table.add_row(
            str(row.tenant_id), row.name, str(row.postgres), str(row.milvus), str(row.skipped), status
        )
    out.print(table)
    total = sum(row.milvus for row in report.tenants)
    if not report.ok:
        bad = sum(1 for row in report.tenants if not row.ok)
        fail(
            f"{bad} tenant(s) do not match PostgreSQL (rows skipped for a wrong dimension, or writes "
            "during the rebuild: stop the API and run `appliance reindex` again)"
        )
    console.print(f"[green]reindexed[/] {total} vectors in {len(report.tenants)} tenant(s)")
