"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    SerializationException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from appliance.lib.context import request_id_var
from appliance.lib.errors import DomainError, FieldError
from appliance.storage.base import InvalidKeyError, ObjectNotFoundError, ObjectStoreError
from appliance.vectors.base import VectorIndexError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("appliance.errors")


def problem(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    headers = {"WWW-Authenticate": 'Bearer realm="appliance"'} if exc.status == 401 else None
    return problem(request, exc.status, exc.title, exc.detail, exc.errors, headers)


def _validation_errors(extra: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            key = item.get("key") or item.get("source") or "body"
            if key == "data":  # Litestar's name for the request body parameter
                key = "body"
            errors.append(FieldError(str(key), str(item.get("message", "invalid value"))))
    return errors


def on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        log.error("http error %s: %s", status, exc.detail)
    title = "Validation failed" if isinstance(exc, ValidationException) else _reason(status)
    errors = _validation_errors(exc.extra) if isinstance(exc, ValidationException) else None
    if not errors and isinstance(exc.__cause__, SerializationException):
        # A body that does not even parse (Litestar raises ClientException from the decode error).
        title = "Malformed request body"
        errors = [FieldError("body", exc.detail or str(exc.__cause__))]
    if isinstance(exc, TooManyRequestsException):
        return too_many_requests(request, exc)
    return problem(request, status, title, exc.detail or title, errors, exc.headers)


def too_many_requests(
    request: Request[Any, Any, Any], exc: TooManyRequestsException
) -> Response[dict[str, Any]]:
    """Litestar's rate limiter says when its window resets (``RateLimit-Reset``, seconds); clients
    (the edge worker among them) wait for ``Retry-After``."""
    headers = dict(exc.headers or {})
    reset = headers.get("RateLimit-Reset", "")
    retry_after = max(1, int(reset)) if reset.isdigit() else 1
    headers["Retry-After"] = str(retry_after)
    detail = f"rate limit exceeded; retry in {retry_after} s"
    return problem(request, 429, "Too many requests", detail, headers=headers)


# SQLSTATE → (status, title): what a constraint violation means to the caller.
_SQLSTATE = {
    "23505": (409, "Conflict"),  # unique_violation
    "23503": (422, "Unprocessable content"),  # foreign_key_violation
    "23514": (422, "Unprocessable content"),  # check_violation
    "23502": (422, "Unprocessable content"),  # not_null_violation
    "22P02": (422, "Unprocessable content"),  # invalid_text_representation
    "42501": (403, "Forbidden"),  # insufficient_privilege, incl. RLS WITH CHECK
}


def on_db_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[dict[str, Any]]:
    if _unavailable_dependency(exc) is not None:
        return unavailable(request, exc)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    mapped = _SQLSTATE.get(sqlstate or "")
    if mapped is None and isinstance(exc.orig, psycopg.DataError):
        # SQLSTATE class 22 "data exception" (out-of-range number or date, bad encoding …) and the
        # driver's own refusals with no SQLSTATE (a NUL byte in a text value): the caller's values.
        detail = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or str(exc.orig)
        return problem(request, 422, "Unprocessable content", detail)
    if mapped is None or not isinstance(exc, IntegrityError | DBAPIError):
        log.exception("database error", exc_info=exc)
        return problem(request, 500, "Internal server error", "a database error occurred")
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    detail = getattr(diag, "message_detail", None) or getattr(diag, "message_primary", None) or str(exc.orig)
    return problem(request, mapped[0], mapped[1], detail, [FieldError(constraint or "body", detail)])


DEPENDENCY_RETRY_AFTER = "5"
"""Seconds a client (an edge worker honours it) waits before retrying after a 503."""


def _database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL unreachable, restarting, or the connection cut: psycopg's OperationalError
    (also raw, from the ingest fast path), SQLAlchemy's wrapper or pool timeout, a
    connection invalidated under a statement."""
    if isinstance(exc, psycopg.OperationalError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc.orig, psycopg.OperationalError | psycopg.InterfaceError
        )
    return isinstance(exc, psycopg.InterfaceError) and "closed" in str(exc)


def _unavailable_dependency(exc: BaseException) -> str | None:
    """Which backing service failed, when ``exc`` is such a failure; None for a bug of ours."""
    if _database_unavailable(exc):
        return "database"
    if isinstance(exc, ObjectStoreError) and not isinstance(exc, ObjectNotFoundError | InvalidKeyError):
        return "object store"
    if isinstance(exc, VectorIndexError) or type(exc).__module__.startswith(("pymilvus", "grpc")):
        return "vector index"  # (pymilvus is not imported here: it is slow to import)
    return None


def on_unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, ObjectNotFoundError):  # an object that should exist does not
        log.warning("object missing: %s", exc)
        return problem(request, 404, "Not Found", "the stored object does not exist")
    if isinstance(exc, InvalidKeyError):  # an object key made of the caller's input
        return problem(request, 422, "Unprocessable content", str(exc))
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):  # raw driver (ingest fast path)
        detail = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        status, title = _SQLSTATE.get(exc.sqlstate or "", (422, "Unprocessable content"))
        return problem(request, status, title, detail)
    if _unavailable_dependency(exc) is not None:
        return unavailable(request, exc)
    log.exception("unhandled error", exc_info=exc)
    return problem(request, 500, "Internal server error", "an unexpected error occurred")


def unavailable(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    """503 + Retry-After naming the dependency that failed: the client did nothing wrong and may
    retry; the operator finds the cause in the log (it names the endpoint and the call, which API
    clients need not see)."""
    dependency = _unavailable_dependency(exc) or "service"
    log.error("%s unavailable: %s", dependency, exc, exc_info=exc)
    detail = f"the {dependency} is unavailable; try again shortly"
    return problem(
        request, 503, "Service Unavailable", detail, headers={"Retry-After": DEPENDENCY_RETRY_AFTER}
    )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: on_domain_error,
    HTTPException: on_http_exception,
    DBAPIError: on_db_error,
    Exception: on_unhandled,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
