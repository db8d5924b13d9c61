"""The OpenAPI document, with every error response described as an RFC 9457 problem."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
PROBLEM_STATUSES = {
    "400": "Malformed request",
    "401": "Missing or invalid token",
    "403": "Not allowed for this role or scope",
    "404": "Not found",
    "409": "Conflicts with existing data",
    "422": "Breaks a rule",
    "429": "Rate limited",
}


def add_problem_responses(app: Litestar) -> None:
    """Describe error responses in the served document too (mutates Litestar's cached spec)."""
    from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema

    spec = app.openapi_schema
    if spec.components.schemas is None:
        spec.components.schemas = {}
    spec.components.schemas["Problem"] = Schema(**_schema_kwargs(PROBLEM_SCHEMA))
    ref = Reference(ref="#/components/schemas/Problem")
    for path_item in (spec.paths or {}).values():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(path_item, method, None)
            if operation is None or operation.responses is None:
                continue
            for status, description in PROBLEM_STATUSES.items():
                operation.responses[status] = OpenAPIResponse(
                    description=description,
                    content={"application/problem+json": OpenAPIMediaType(schema=ref)},
                )


def document_event_streams(app: Litestar) -> None:
    """Handlers returning ``ServerSentEvent`` answer ``text/event-stream``, not the JSON Litestar assumes."""
    from litestar.openapi.spec import OpenAPIMediaType, Schema
    from litestar.openapi.spec.enums import OpenAPIType
    from litestar.response import ServerSentEvent
    from litestar.routes import HTTPRoute

    streaming: set[str] = set()
    for route in app.routes:
        for handler in route.route_handlers if isinstance(route, HTTPRoute) else ():
            returns = handler.parsed_fn_signature.return_type.annotation
            is_stream = isinstance(returns, type) and issubclass(returns, ServerSentEvent)
            if is_stream and isinstance(handler.operation_id, str):
                streaming.add(handler.operation_id)
    event = Schema(
        type=OpenAPIType.OBJECT,
        description="One Server-Sent Event; `data` carries a JSON document.",
        properties={
            "event": Schema(type=OpenAPIType.STRING),
            "data": Schema(type=OpenAPIType.STRING),
            "id": Schema(type=OpenAPIType.STRING),
            "retry": Schema(type=OpenAPIType.INTEGER),
        },
    )
    spec = app.openapi_schema
    for path_item in (spec.paths or {}).values():
        operation = path_item.get
        if operation is None or operation.operation_id not in streaming or not operation.responses:
            continue
        for status, response in operation.responses.items():
            if status.startswith("2") and hasattr(response, "content"):
                # OpenAPI < 3.2: the schema of an event-stream media type describes one event.
                response.content = {"text/event-stream": OpenAPIMediaType(schema=event)}


def _schema_kwargs(raw: dict[str, Any]) -> dict[str, Any]:
    from litestar.openapi.spec import Schema
    from litestar.openapi.spec.enums import OpenAPIType

    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "type":
            out["type"] = OpenAPIType(value)
        elif key == "properties":
            out["properties"] = {k: Schema(**_schema_kwargs(v)) for k, v in value.items()}
        elif key == "items":
            out["items"] = Schema(**_schema_kwargs(value))
        else:
            out[key] = value
    return out


def openapi_document(app: Litestar | None = None) -> dict[str, Any]:
    if app is None:
        from appliance.config import load_settings
        from appliance.server.app import create_app

        # The document does not depend on the environment: build it from defaults.
        app = create_app(load_settings(env={}))
    return app.openapi_schema.to_schema()
