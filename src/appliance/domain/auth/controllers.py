from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from appliance.domain.auth.schemas import TokenRequest, TokenResponse
from appliance.lib.errors import DomainError, FieldError, InvalidError
from appliance.lib.inputs import nul_field

_GRANT_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    one_of=[
        Schema(
            type=OpenAPIType.OBJECT,
            required=["grant_type", "username", "password"],
            properties={
                "grant_type": Schema(type=OpenAPIType.STRING, const="password"),
                "username": Schema(type=OpenAPIType.STRING, min_length=1, max_length=150),
                "password": Schema(type=OpenAPIType.STRING, min_length=1, max_length=1024),
            },
        ),
        Schema(
            type=OpenAPIType.OBJECT,
            required=["grant_type", "api_key"],
            properties={
                "grant_type": Schema(type=OpenAPIType.STRING, const="api_key"),
                "api_key": Schema(type=OpenAPIType.STRING, min_length=1, max_length=512),
            },
        ),
    ],
)


class TokenOperation(Operation):
    """The token endpoint reads JSON or form bodies itself; document both."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(schema=_GRANT_SCHEMA),
                "application/x-www-form-urlencoded": OpenAPIMediaType(schema=_GRANT_SCHEMA),
            },
        )


async def read_grant(request: Request[Any, Any, Any]) -> TokenRequest:
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
            grant: TokenRequest = msgspec.convert(form, TokenRequest)
        else:
            grant = msgspec.json.decode(body, type=TokenRequest)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DomainError(
            "the body must be a password or api_key grant", [FieldError("body", str(exc))]
        ) from exc
    where = nul_field(msgspec.structs.asdict(grant))
    if where is not None:
        raise InvalidError.field(where, "text may not contain NUL (U+0000) characters")
    return grant


class AuthController(Controller):
    tags = ["auth"]

    @post(
        "/v1/auth/token",
        operation_id="issueToken",
        opt={"public": True, "rate_limit": "auth"},
        operation_class=TokenOperation,
        status_code=200,
    )
    async def issue_token(self, request: Request[Any, Any, Any]) -> TokenResponse:
        """Exchange a password or an API key for a short-lived RS256 access token."""
        grant = await read_grant(request)
        result: TokenResponse = await request.app.state.services.auth.exchange(grant)
        return result

    @get("/.well-known/jwks.json", operation_id="jwks", opt={"public": True})
    async def jwks(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """The public keys that verify this server's tokens."""
        keys: dict[str, Any] = request.app.state.services.issuer.jwks()
        return keys
