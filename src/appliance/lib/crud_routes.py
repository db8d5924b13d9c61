"""One CRUD shape for every area: the list/get/create/update/delete handlers of a controller,
built from the area's schemas and service.

An area's controller subclasses :class:`CrudController` and names its ``crud`` (:class:`Crud`:
its service, the read/create/update schemas, its list filters) and its ``ops`` (:class:`Ops`: the
operations it offers, each with its one-line description); the controller then provides the
``service`` and ``filters`` dependencies the handlers take. The operation ids and the item's path
parameter are named after the controller's path: ``/v1/api-keys`` gives ``listApiKeys``,
``getApiKey`` … and ``api_key_id``. The rules stay in the service; an operation that is not plain
CRUD (an erasure, a key shown once) is written by hand in the area and left out here.

The handlers are written once with type variables; each area's copies resolve them to its own
schemas through Litestar's signature namespace, so the OpenAPI document names the area's types.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.lib.crud import CrudService, Page, changes_of, to_schema
from appliance.lib.di import Injected
from appliance.lib.http import Limit, Offset

ServiceT = TypeVar("ServiceT", bound=CrudService[Any])
ReadT = TypeVar("ReadT", bound=msgspec.Struct)
CreateT = TypeVar("CreateT", bound=msgspec.Struct)
UpdateT = TypeVar("UpdateT", bound=msgspec.Struct)
P = TypeVar("P")

Filters = list[ColumnElement[bool]]
ItemId = uuid.UUID
"""The item's path parameter; each area's copy names it (``camera_id``, ``site_id`` …)."""
Changed = Callable[[uuid.UUID], None]
"""Told the id of a row that was updated or deleted (a cache to forget it), when provided."""


@dataclass(frozen=True)
class Op:
    """One operation as the API documents it, when a description alone does not say enough."""

    description: str
    """One line: the OpenAPI description (what the handler docstring would say)."""
    roles: frozenset[Any] | None = None
    """Who may call it, when the controller's own ``opt`` does not say (or says otherwise)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """More route options: ``status_code``, ``responses`` …"""


ONE_ITEM = "One {noun}."
"""The get operation's description unless the area says more."""


@dataclass(frozen=True)
class Ops:
    """The operations an area offers, each a description (or an :class:`Op`); ``None``: not offered."""

    list: str | Op | None = None
    get: str | Op | None = ONE_ITEM
    create: str | Op | None = None
    update: str | Op | None = None
    delete: str | Op | None = None


@dataclass(frozen=True)
class Noun:
    """An area's item, named after the last segment of its controller's path (``api-keys``); the
    singular drops a trailing "s" (``staff`` and ``audit`` stay as they are)."""

    plural: str

    @property
    def singular(self) -> str:
        return self.plural.removesuffix("s")

    def camel(self, *, plural: bool) -> str:
        """``ApiKeys`` or ``ApiKey``: the operation ids' noun."""
        return "".join(word.capitalize() for word in (self.plural if plural else self.singular).split("-"))

    @property
    def key(self) -> str:
        """``api_key_id``: the item's path parameter unless the area names it."""
        return self.singular.replace("-", "_") + "_id"

    @property
    def prose(self) -> str:
        return self.singular.replace("-", " ")


@dataclass(frozen=True)
class Crud(Generic[ServiceT, ReadT, CreateT, UpdateT]):
    """What an area's handlers work on; the first four in the order of the type parameters:
    ``Crud(CameraService, Camera, CameraCreate, CameraUpdate, filters=camera_filters)``."""

    service: type[ServiceT]
    """The area's service: the ``service`` dependency builds it per request (see :func:`scoped`)."""
    read: type[ReadT]
    create: type[CreateT] | None = None
    """The create body (none for an area that creates nothing here)."""
    update: type[UpdateT] | None = None
    filters: Callable[..., Filters] | None = None
    """The list's query parameters (its own parameters, documented as such) → conditions."""
    key: str | None = None
    """The item's path parameter when it is not named after the path (``key_id``, not ``api_key_id``)."""
    platform: bool = False
    """The tenant registry: the platform transaction and no tenant (:func:`platform_scoped`)."""
    views: Callable[[ServiceT, Sequence[Any]], Awaitable[list[ReadT]]] | None = None
    """Rows to responses when a row alone does not make one (counts from other tables)."""
    row_view: Callable[[Any], ReadT] | None = None
    """A row to its response when the fields differ; by default the row is converted to ``read``."""

    async def view_all(self, service: ServiceT, rows: Sequence[Any]) -> list[ReadT]:
        if self.views is not None:
            return await self.views(service, rows)
        if self.row_view is not None:
            return [self.row_view(row) for row in rows]
        return [to_schema(row, self.read) for row in rows]

    async def view(self, service: ServiceT, row: Any) -> ReadT:
        [one] = await self.view_all(service, [row])
        return one


def scoped(make: Callable[[AsyncSession, P, uuid.UUID], ServiceT]) -> Provide:
    """The ``service`` dependency of a tenant-scoped area: its service in the request's
    RLS-scoped transaction, for the caller, in the tenant it acts in."""

    def provide(session: AsyncSession, principal: Injected[P], tenant: uuid.UUID) -> ServiceT:
        return make(session, principal, tenant)

    return Provide(provide, sync_to_thread=False)


def platform_scoped(make: Callable[[AsyncSession, P, None], ServiceT]) -> Provide:
    """The ``service`` dependency of the tenant registry: the platform transaction, no tenant."""

    def provide(platform_session: AsyncSession, principal: Injected[P]) -> ServiceT:
        return make(platform_session, principal, None)

    return Provide(provide, sync_to_thread=False)


def crud_handlers(
    crud: Crud[ServiceT, ReadT, CreateT, UpdateT], ops: Ops, noun: Noun
) -> dict[str, HTTPRouteHandler]:
    """The route handlers ``ops`` offers, keyed by the attribute names they take."""
    key = crud.key or noun.key
    item = f"/{{{key}:uuid}}"
    namespace: dict[str, Any] = {
        "ItemId": Annotated[uuid.UUID, PathParameter(name=key)],
        "ReadT": crud.read,
    }
    if crud.create is not None:
        namespace["CreateT"] = crud.create
    if crud.update is not None:
        namespace["UpdateT"] = crud.update

    def route(verb: str, op: str | Op) -> dict[str, Any]:
        if isinstance(op, str):
            op = Op(op.format(noun=noun.prose) if op == ONE_ITEM else op)
        operation_id = verb + noun.camel(plural=verb == "list")
        opt = {"opt": {"roles": op.roles}} if op.roles is not None else {}
        return {
            "operation_id": operation_id,
            "summary": operation_id[0].upper() + operation_id[1:],
            "description": op.description,
            "signature_namespace": namespace,
            **opt,
            **op.options,
        }

    async def list_items(
        self: Controller,
        service: Injected[ServiceT],
        limit: Limit = 50,
        offset: Offset = 0,
        *,
        filters: Injected[Filters],
    ) -> Page[ReadT]:
        rows, total = await service.list(filters, limit, offset)
        return Page(await crud.view_all(service, rows), total, limit, offset)

    async def get_item(self: Controller, service: Injected[ServiceT], item_id: ItemId) -> ReadT:
        read: ReadT = await crud.view(service, await service.get(item_id))
        return read

    async def create_item(self: Controller, service: Injected[ServiceT], data: CreateT) -> ReadT:
        read: ReadT = await crud.view(service, await service.create(changes_of(data)))
        return read

    async def update_item(
        self: Controller,
        service: Injected[ServiceT],
        item_id: ItemId,
        data: UpdateT,
        changed: Injected[Changed | None] = None,
    ) -> ReadT:
        row = await service.update(item_id, changes_of(data))
        if changed is not None:
            changed(item_id)
        read: ReadT = await crud.view(service, row)
        return read

    async def delete_item(
        self: Controller,
        service: Injected[ServiceT],
        item_id: ItemId,
        changed: Injected[Changed | None] = None,
    ) -> None:
        await service.delete(item_id)
        if changed is not None:
            changed(item_id)

    handlers: dict[str, HTTPRouteHandler] = {}
    if ops.list:
        handlers["list_items"] = get(**route("list", ops.list))(list_items)
    if ops.get:
        handlers["get_item"] = get(item, **route("get", ops.get))(get_item)
    if ops.create:
        handlers["create_item"] = post(**route("create", ops.create))(create_item)
    if ops.update:
        handlers["update_item"] = patch(item, **route("update", ops.update))(update_item)
    if ops.delete:
        handlers["delete_item"] = delete(item, **route("delete", ops.delete))(delete_item)
    return handlers


class CrudController(Controller):
    """A controller whose standard handlers come from its ``crud`` and ``ops``; add the area's own
    below them."""

    crud: ClassVar[Crud[Any, Any, Any, Any]]
    ops: ClassVar[Ops]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "crud" not in cls.__dict__:
            return
        crud = cls.crud
        provided = {"service": (platform_scoped if crud.platform else scoped)(crud.service)}
        if crud.filters is not None:
            provided["filters"] = Provide(crud.filters, sync_to_thread=False)
        cls.dependencies = {**provided, **(cls.__dict__.get("dependencies") or {})}
        noun = Noun(cls.path.rstrip("/").rsplit("/", 1)[-1])
        for name, handler in crud_handlers(crud, cls.ops, noun).items():
            if name in cls.__dict__:  # an area's own handler: leave its operation out of ``crud``
                raise TypeError(f"{cls.__name__}.{name} is defined twice (in the class and by its crud)")
            setattr(cls, name, handler)
