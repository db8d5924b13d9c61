"""Domain errors: services raise these, the server turns them into RFC 9457 problems."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar


class FieldError:
    __slots__ = ("field", "message")

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


class DomainError(Exception):
    """A rule the request broke. A subclass names its HTTP status in its bases
    (``class GoneError(DomainError, status=HTTPStatus.GONE)``); its problem title is the status's
    reason phrase in sentence case unless it names one."""

    status: ClassVar[int] = HTTPStatus.BAD_REQUEST
    title: ClassVar[str] = "Bad request"

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
            cls.title = title or HTTPStatus(status).phrase.capitalize()

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFoundError(DomainError, status=HTTPStatus.NOT_FOUND):
    """No such item, or one the caller may not see: the two answer alike."""


class ConflictError(DomainError, status=HTTPStatus.CONFLICT):
    """The request clashes with the current state (a decision already made, a concurrent write)."""


# RFC 9110's name: Python 3.11's phrase for 422 is still "Unprocessable Entity".
class InvalidError(DomainError, status=HTTPStatus.UNPROCESSABLE_ENTITY, title="Unprocessable content"):
    """Well-formed input that breaks a rule (unknown time zone, foreign site …)."""

    @classmethod
    def field(cls, field: str, message: str) -> InvalidError:
        return cls(f"{field}: {message}", [FieldError(field, message)])


class ForbiddenError(DomainError, status=HTTPStatus.FORBIDDEN):
    """The caller is known but may not do this (its role, its key's site or camera, its origin)."""


class UnauthorizedError(DomainError, status=HTTPStatus.UNAUTHORIZED):
    """No valid credentials: a missing, expired or revoked token or key."""


# RFC 9110's name: Python 3.11's phrase for 413 is still "Request Entity Too Large".
class PayloadTooLargeError(
    DomainError, status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE, title="Content too large"
):
    """A body over its limit, refused before it is read in full."""
