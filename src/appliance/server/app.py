"""The Litestar application: routes, guards, middleware, error handling, OpenAPI, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from appliance import __version__
from appliance.config import Settings, load_settings
from appliance.domain.auth.controllers import AuthController
from appliance.domain.auth.guards import authorize
from appliance.lib.heap import freeze_long_lived
from appliance.lib.logging import configure_logging
from appliance.server.deps import DEPENDENCIES
from appliance.server.health import HealthController
from appliance.server.middleware import (
    CheckedRequest,
    RequestContextMiddleware,
    forget_idle_clients,
    rate_limit_configs,
    rate_limit_stores,
    trusted_proxies,
)
from appliance.server.openapi import add_problem_responses, document_event_streams
from appliance.server.problems import EXCEPTION_HANDLERS
from appliance.server.routes import API_CONTROLLERS
from appliance.server.services import Services
from appliance.server.spa import SPA_ROUTES


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = {"public": True}
    include_in_schema = False


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Visitor analytics appliance API",
        version=__version__,
        description="Multi-tenant retail visitor analytics: sites, cameras, staff, customers, visits.",
        # The docs are public (README: Swagger UI at /schema): a browser cannot send a bearer token,
        # and the deny-by-default guard would otherwise answer 401 for the UI and the JSON alike.
        openapi_router=Router("/schema", route_handlers=[], include_in_schema=False, opt={"public": True}),
        render_plugins=[SwaggerRenderPlugin()],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
            }
        ),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_json)
    limits = rate_limit_configs(
        settings.rate_limit_auth_per_minute,
        settings.rate_limit_ingest_per_second,
        trusted_proxies(settings.trusted_proxies),
    )
    limit_stores = rate_limit_stores(limits)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = Services.create(settings)
        app.state.services = services
        runner = None
        if settings.scheduler:
            from appliance.jobs.registry import job_runner

            runner = job_runner(services)
            runner.start()
        app.state.jobs = runner
        freeze_long_lived("started")
        forgetting = asyncio.create_task(forget_idle_clients(limit_stores), name="rate-limit-expiry")
        try:
            yield
        finally:
            forgetting.cancel()
            if runner is not None:
                await runner.stop()
            await services.close()

    prometheus = PrometheusConfig(app_name="appliance", prefix="appliance", group_path=True)
    app = Litestar(
        route_handlers=[HealthController, MetricsController, AuthController, *API_CONTROLLERS, *SPA_ROUTES],
        guards=[authorize],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=CheckedRequest,
        # RequestContextMiddleware is not here: route middleware never sees the router's own 404/405
        # answers, so it wraps the whole ASGI handler below instead.
        middleware=[prometheus.middleware, *(limit.middleware for limit in limits)],
        lifespan=[lifespan],
        openapi_config=openapi_config(),
        stores=dict(limit_stores),
        cors_config=CORSConfig(allow_origins=[]),
        debug=False,
        logging_config=None,
    )
    add_problem_responses(app)
    document_event_streams(app)
    # Outermost, inside Litestar's own entry point: every response (unknown routes and wrong
    # methods included) gets an X-Request-ID, an access-log line and a request_id in its problem.
    app.asgi_handler = RequestContextMiddleware(app=app.asgi_handler)
    return app
