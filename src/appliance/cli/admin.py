"""``appliance admin``: bootstrap tenants, users and edge API keys on the owner connection."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
import typer

from appliance.cli.common import console, fail, out, print_json, settings_or_exit
from appliance.config import Settings
from appliance.domain.auth.principal import Principal, Role
from appliance.lib.errors import DomainError

if TYPE_CHECKING:  # the database stack loads only when a command runs (edge build has none)
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession

    from appliance.db.engine import Database
    from appliance.lib.crud import CrudService

app = typer.Typer(
    help="Create and list tenants, sites, users and edge API keys (runs on the owner connection).",
    no_args_is_help=True,
)
T = TypeVar("T")
S = TypeVar("S")
CLI_PRINCIPAL = Principal(sub="cli:admin", role=Role.SYSTEM_ADMIN, tenant_id=None)


def run_admin(action: Callable[[Database], Awaitable[T]]) -> T:
    """Run one admin action; domain and database errors become a clear message and exit 1."""
    import asyncio

    from sqlalchemy.exc import DBAPIError

    from appliance.db.engine import Database, make_async_engine

    settings: Settings = settings_or_exit()

    async def go() -> T:
        db = Database(make_async_engine(settings.database_url, pool_size=1))
        try:
            return await action(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except DomainError as exc:
        fail(exc.detail)
    except DBAPIError as exc:
        diag = getattr(exc.orig, "diag", None)
        fail(getattr(diag, "message_detail", None) or getattr(diag, "message_primary", None) or str(exc.orig))


def in_transaction(
    tenant: uuid.UUID | None, work: Callable[[AsyncSession], Awaitable[T]], *, platform_admin: bool = False
) -> T:
    """Run ``work`` in one transaction on the owner connection, as ``run_admin`` runs an action."""

    async def action(db: Database) -> T:
        async with db.transaction(tenant, platform_admin=platform_admin) as session:
            return await work(session)

    return run_admin(action)


async def list_all(service: CrudService[Any], schema: type[S], *filters: ColumnElement[bool]) -> list[S]:
    """Every row the service lists (oldest first), page by page."""
    from appliance.lib.crud import MAX_LIMIT, to_schema

    found: list[S] = []
    while True:
        rows, total = await service.list(filters, limit=MAX_LIMIT, offset=len(found))
        found += [to_schema(row, schema) for row in rows]
        if not rows or len(found) >= total:
            return found


def show_list(items: list[Any], as_json: bool, title: str, columns: tuple[str, ...]) -> None:
    if as_json:
        print_json(items)
        return
    from rich.table import Table

    table = Table(*columns, title=title)
    for item in msgspec.to_builtins(items):
        table.add_row(*(str(item[column]) for column in columns))
    out.print(table)


def show(obj: msgspec.Struct, as_json: bool, title: str) -> None:
    if as_json:
        print_json(obj)
        return
    from rich.table import Table

    table = Table("field", "value", title=title)
    for key, value in msgspec.to_builtins(obj).items():
        table.add_row(key, str(value))
    out.print(table)


@app.command("create-tenant")
def create_tenant(
    name: Annotated[str, typer.Argument(help="tenant name (unique)")],
    visit_gap_minutes: Annotated[int, typer.Option(min=1, max=1440)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print the created tenant as JSON")] = False,
) -> None:
    """Create a tenant."""
    from appliance.domain.tenants.schemas import Tenant
    from appliance.domain.tenants.services import TenantService
    from appliance.lib.crud import to_schema

    async def create(session: AsyncSession) -> Tenant:
        values = {"name": name, "visit_gap_minutes": visit_gap_minutes}
        return to_schema(await TenantService(session, CLI_PRINCIPAL, None).create(values), Tenant)

    show(in_transaction(None, create, platform_admin=True), as_json, "tenant created")


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="login name")],
    role: Annotated[
        Role,
        typer.Option(
            help=(
                "system_admin (every tenant), tenant_admin (one tenant), site_manager (its --site "
                "sites) or worker (edge workers: not a login, use create-api-key)"
            )
        ),
    ],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    tenant: Annotated[uuid.UUID | None, typer.Option(help="tenant id (not for system_admin)")] = None,
    site: Annotated[list[uuid.UUID] | None, typer.Option(help="site id (repeat) for a site_manager")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the created user as JSON")] = False,
) -> None:
    """Create a dashboard login."""
    from appliance.db.models import User as UserRow
    from appliance.domain.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
    from appliance.domain.users.schemas import User
    from appliance.domain.users.services import UserService
    from appliance.lib.crud import to_schema

    if role is Role.WORKER:
        fail("workers authenticate with API keys: use `appliance admin create-api-key`")
    if len(password) < MIN_PASSWORD_LENGTH:
        fail(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if (role is Role.SYSTEM_ADMIN) == (tenant is not None):
        fail("--tenant is required for tenant roles and not allowed for system_admin")

    async def create(session: AsyncSession) -> User:
        if role is Role.SYSTEM_ADMIN:
            row = UserRow(
                username=username, password_hash=hash_password(password), role=role.value, site_ids=[]
            )
            session.add(row)
            await session.flush()
        else:
            values: dict[str, Any] = {
                "username": username,
                "password": password,
                "role": role.value,
                "site_ids": list(site or []),
            }
            row = await UserService(session, CLI_PRINCIPAL, tenant).create(values)
        return to_schema(row, User)

    show(in_transaction(tenant, create), as_json, "user created")


@app.command("create-api-key")
def create_api_key(
    tenant: Annotated[uuid.UUID, typer.Option(help="tenant id")],
    site: Annotated[uuid.UUID, typer.Option(help="site id the key may ingest for")],
    camera: Annotated[uuid.UUID | None, typer.Option(help="restrict the key to one camera")] = None,
    name: Annotated[str, typer.Option(help="label")] = "edge worker",
    as_json: Annotated[bool, typer.Option("--json", help="print the created key as JSON")] = False,
) -> None:
    """Create an edge API key; the secret is printed once and never again."""
    from appliance.domain.api_keys.schemas import ApiKeyCreated
    from appliance.domain.api_keys.services import ApiKeyService

    async def issue(session: AsyncSession) -> ApiKeyCreated:
        values = {"site_id": site, "camera_id": camera, "name": name}
        return await ApiKeyService(session, CLI_PRINCIPAL, tenant).issue(values)

    created = in_transaction(tenant, issue)
    show(created, as_json, "API key created")
    if not as_json:
        console.print("[yellow]store the api_key now: it cannot be shown again[/]")


@app.command("list-tenants")
def list_tenants(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List every tenant (id, name, visit gap), oldest first."""
    from appliance.domain.tenants.schemas import Tenant
    from appliance.domain.tenants.services import TenantService

    async def tenants(session: AsyncSession) -> list[Tenant]:
        return await list_all(TenantService(session, CLI_PRINCIPAL, None), Tenant)

    found = in_transaction(None, tenants, platform_admin=True)
    show_list(found, as_json, "tenants", ("id", "name", "visit_gap_minutes", "created_at"))


@app.command("create-site")
def create_site(
    name: Annotated[str, typer.Argument(help="site name, e.g. the shop's street")],
    tenant: Annotated[uuid.UUID, typer.Option(help="tenant id (see list-tenants)")],
    timezone: Annotated[
        str, typer.Option(help="IANA time zone the site's reports use, e.g. Europe/Berlin")
    ] = "UTC",
    address: Annotated[str | None, typer.Option(help="postal address")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the created site as JSON")] = False,
) -> None:
    """Create a site (a shop) of a tenant; audited like one created in the dashboard."""
    from appliance.domain.sites.schemas import Site, SiteCreate
    from appliance.domain.sites.services import SiteService
    from appliance.lib.crud import to_schema

    try:
        values = msgspec.structs.asdict(
            msgspec.convert({"name": name, "timezone": timezone, "address": address}, SiteCreate)
        )
    except msgspec.ValidationError as exc:
        fail(str(exc))

    async def create(session: AsyncSession) -> Site:
        await _require_tenant(session, tenant)
        return to_schema(await SiteService(session, CLI_PRINCIPAL, tenant).create(values), Site)

    show(in_transaction(tenant, create), as_json, "site created")


@app.command("list-sites")
def list_sites(
    tenant: Annotated[uuid.UUID, typer.Option(help="tenant id (see list-tenants)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List a tenant's sites (id, name, time zone), oldest first."""
    from appliance.db.models import Site as SiteRow
    from appliance.domain.sites.schemas import Site
    from appliance.domain.sites.services import SiteService

    async def sites(session: AsyncSession) -> list[Site]:
        await _require_tenant(session, tenant)
        # The owner connection may bypass RLS (a superuser does): filter by tenant explicitly.
        return await list_all(SiteService(session, CLI_PRINCIPAL, tenant), Site, SiteRow.tenant_id == tenant)

    show_list(in_transaction(tenant, sites), as_json, "sites", ("id", "name", "timezone", "address"))


async def _require_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    from appliance.db.models import Tenant as TenantRow
    from appliance.lib.errors import NotFoundError

    if await session.get(TenantRow, tenant_id) is None:
        raise NotFoundError(f"tenant {tenant_id} not found (see `appliance admin list-tenants`)")
