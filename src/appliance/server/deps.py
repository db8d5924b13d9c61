"""Request dependencies: the caller, the tenant it acts in, an RLS-scoped transaction, and the
long-lived services, typed. ``provide_services`` is the one place that reads them off the app's
state (the composition root, ``server/services.py``, put them there at start-up); controllers and
guards name what they need and Litestar hands it in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.domain.auth.controllers import ProblemResponse
from appliance.domain.auth.guards import AUTHENTICATOR, Authenticator
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.events.controllers import IngestRequest
from appliance.lib.di import Injected
from appliance.lib.errors import DomainError, UnauthorizedError
from appliance.recognition.policy import Thresholds
from appliance.server.problems import on_domain_error
from appliance.server.services import Services
from appliance.storage.base import ObjectStore

TENANT_HEADER = "X-Tenant-ID"
T = TypeVar("T")


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise UnauthorizedError("not authenticated")
    return principal


def provide_tenant(request: Request[Any, Any, Any], principal: Principal) -> uuid.UUID:
    """Everyone but system_admin acts in the tenant of its token; system_admin names one."""
    if principal.role is not Role.SYSTEM_ADMIN:
        if principal.tenant_id is None:
            raise UnauthorizedError("token carries no tenant")
        return principal.tenant_id
    raw = request.headers.get(TENANT_HEADER)
    if not raw:
        raise DomainError(f"system_admin must name the tenant to act in with the {TENANT_HEADER} header")
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise DomainError(f"{TENANT_HEADER} is not a UUID") from exc


async def provide_session(db: Injected[Database], tenant: uuid.UUID) -> AsyncIterator[AsyncSession]:
    async with db.transaction(tenant) as session:
        yield session


async def provide_platform_session(
    db: Injected[Database], principal: Principal
) -> AsyncIterator[AsyncSession]:
    """For the tenant registry: system_admin sees every tenant, others only their own."""
    async with db.transaction(
        principal.tenant_id, platform_admin=principal.role is Role.SYSTEM_ADMIN
    ) as session:
        yield session


# -- the long-lived services ---------------------------------------------------------------------


def provide_services(state: State) -> Services:
    services = state.get("services")
    if not isinstance(services, Services):
        raise RuntimeError("the app's services are not started (create_app's lifespan builds them)")
    return services


def provide_authenticator(state: State) -> Authenticator:
    """For the guard, which gets no dependencies: hence a function of the state alone."""
    return provide_services(state).authenticator


def _part(pick: Callable[[Services], T]) -> Provide:
    """A dependency that is one of the long-lived services, typed as that service."""

    def provide(services: Injected[Services]) -> T:
        return pick(services)

    return Provide(provide, sync_to_thread=False)


async def provide_object_store(services: Injected[Services]) -> ObjectStore:
    return await services.recognition.store()


def provide_ingest_request(request: Request[Any, Any, Any], state: State) -> IngestRequest:
    """No sub-dependencies, so the ingest route resolves one dependency and no task group."""
    recognition = provide_services(state).recognition
    return IngestRequest(provide_principal(request), recognition, recognition.ingest)


def provide_thresholds(settings: Injected[Settings]) -> Thresholds:
    return Thresholds(match=settings.match_threshold, uncertain=settings.uncertain_threshold)


def provide_problem() -> ProblemResponse:
    """The RFC 9457 answer for an error, for a handler that adds to it (cookies) instead of raising."""
    return on_domain_error


def _sync(fn: Callable[..., Any]) -> Provide:
    return Provide(fn, sync_to_thread=False)


DEPENDENCIES = {
    "principal": _sync(provide_principal),
    "tenant": _sync(provide_tenant),
    "session": Provide(provide_session),
    "platform_session": Provide(provide_platform_session),
    "services": _sync(provide_services),
    AUTHENTICATOR: _sync(provide_authenticator),
    "settings": _part(lambda services: services.settings),
    "db": _part(lambda services: services.db),
    "auth": _part(lambda services: services.auth),
    "issuer": _part(lambda services: services.issuer),
    "live": _part(lambda services: services.live),
    "recognition": _part(lambda services: services.recognition),
    "object_store": Provide(provide_object_store),
    "ingest_request": _sync(provide_ingest_request),
    "thresholds": _sync(provide_thresholds),
    "problem": _sync(provide_problem),
}
