from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Parameter

from appliance.domain.auth import sessions
from appliance.domain.auth.schemas import PasswordGrant, SessionCreate, TokenRequest, TokenResponse
from appliance.domain.auth.services import AuthService
from appliance.domain.auth.tokens import TokenIssuer
from appliance.lib.di import Injected
from appliance.lib.errors import DomainError, FieldError, ForbiddenError, InvalidError, UnauthorizedError
from appliance.lib.inputs import nul_field

ProblemResponse = Callable[[Request[Any, Any, Any], DomainError], Response[Any]]
"""The app's RFC 9457 answer for an error (the ``problem`` dependency), for a handler that adds to
it (cleared cookies) rather than raising."""

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


SessionHeader = Annotated[
    str,
    Parameter(
        header=sessions.SESSION_HEADER,
        min_length=1,
        max_length=16,
        description="Any value, e.g. 1: a cross-site form cannot send it (CSRF defence, ADR 0003).",
    ),
]
RefreshCookie = Annotated[
    str | None,
    Parameter(cookie=sessions.COOKIE, required=False, description="The refresh cookie (httpOnly)."),
]


def _same_origin(request: Request[Any, Any, Any]) -> None:
    """Browsers name the initiator of every request; a session route answers the dashboard only."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise ForbiddenError("session requests must come from the dashboard's own origin")


def _with_cookies(request: Request[Any, Any, Any], response: Response[Any], issued: sessions.Issued) -> None:
    secure = request.url.scheme == "https"
    if issued.cookie is not None:
        response.set_cookie(
            sessions.COOKIE,
            issued.cookie,
            path=sessions.COOKIE_PATH,
            max_age=issued.max_age,
            httponly=True,
            secure=secure,
            samesite="strict",
        )
    response.set_cookie(
        sessions.HINT_COOKIE, "1", path="/", max_age=issued.max_age, secure=secure, samesite="strict"
    )


CLEARED = [
    Cookie(
        key=sessions.COOKIE, value="", path=sessions.COOKIE_PATH, max_age=0, httponly=True, samesite="strict"
    ),
    Cookie(key=sessions.HINT_COOKIE, value="", path="/", max_age=0, samesite="strict"),
]
"""Both cookies, expired: what sign-out and a refused refresh answer with."""


def _cleared(response: Response[Any]) -> Response[Any]:
    for cookie in CLEARED:
        response.set_cookie(cookie)
    return response


COOKIE_DOC = Cookie(
    key=sessions.COOKIE,
    path=sessions.COOKIE_PATH,
    httponly=True,
    samesite="strict",
    description="The refresh secret: httpOnly, SameSite=Strict, Secure over https, rotated on each use.",
    documentation_only=True,
)
HINT_DOC = Cookie(
    key=sessions.HINT_COOKIE,
    samesite="strict",
    description="No secret: tells the page a session may exist, so it asks for a refresh at start.",
    documentation_only=True,
)


SIGN_IN: dict[str, Any] = {
    "opt": {"public": True, "rate_limit": "auth"},
    "status_code": 200,
    "response_cookies": [COOKIE_DOC, HINT_DOC],
}
"""What the routes that hand out a session cookie share."""


class AuthController(Controller):
    tags = ["auth"]

    @post(
        "/v1/auth/token",
        operation_id="issueToken",
        opt={"public": True, "rate_limit": "auth"},
        operation_class=TokenOperation,
        status_code=200,
    )
    async def issue_token(
        self, request: Request[Any, Any, Any], auth: Injected[AuthService]
    ) -> TokenResponse:
        """Exchange a password or an API key for a short-lived RS256 access token."""
        return await auth.exchange(await read_grant(request))

    @get("/.well-known/jwks.json", operation_id="jwks", opt={"public": True})
    async def jwks(self, issuer: Injected[TokenIssuer]) -> dict[str, Any]:
        """The public keys that verify this server's tokens."""
        keys: dict[str, Any] = issuer.jwks()
        return keys

    @post(sessions.COOKIE_PATH, operation_id="startSession", **SIGN_IN)
    async def start(
        self,
        request: Request[Any, Any, Any],
        auth: Injected[AuthService],
        data: SessionCreate,
        session_header: SessionHeader,
    ) -> Response[TokenResponse]:
        """Sign in with a password: an access token, and a refresh cookie for later reloads."""
        _same_origin(request)
        where = nul_field(msgspec.structs.asdict(data))
        if where is not None:
            raise InvalidError.field(where, "text may not contain NUL (U+0000) characters")
        principal = await auth.password_principal(
            PasswordGrant(username=data.username, password=data.password)
        )
        issued: sessions.Issued = await auth.sessions.start(principal)
        response = Response(issued.token)
        _with_cookies(request, response, issued)
        return response

    @post(f"{sessions.COOKIE_PATH}/refresh", operation_id="refreshSession", **SIGN_IN)
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        auth: Injected[AuthService],
        problem: Injected[ProblemResponse],
        session_header: SessionHeader,
        cookie: RefreshCookie = None,
    ) -> Response[TokenResponse]:
        """A new access token for the session in the refresh cookie, which is rotated."""
        _same_origin(request)
        try:
            if not cookie:
                raise UnauthorizedError("no session: sign in")
            issued = await auth.sessions.refresh(cookie)
        except UnauthorizedError as exc:
            return _cleared(problem(request, exc))
        response = Response(issued.token)
        _with_cookies(request, response, issued)
        return response

    @delete(
        sessions.COOKIE_PATH,
        operation_id="endSession",
        opt={"public": True},
        status_code=204,
        response_cookies=CLEARED,
    )
    async def end(
        self,
        request: Request[Any, Any, Any],
        auth: Injected[AuthService],
        session_header: SessionHeader,
        cookie: RefreshCookie = None,
    ) -> None:
        """Sign out: the session ends (and the access tokens issued for it); the cookies are cleared."""
        _same_origin(request)
        if cookie:
            await auth.sessions.end(cookie)
