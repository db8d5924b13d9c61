"""Domain errors: services raise these, the server turns them into RFC 9457 problems."""

from __future__ import annotations


class FieldError:
    __slots__ = ("field", "message")

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFoundError(DomainError):
    status = 404
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    title = "Conflict"


class InvalidError(DomainError):
    """Well-formed input that breaks a rule (unknown time zone, foreign site …)."""

    status = 422
    title = "Unprocessable content"

    @classmethod
    def field(cls, field: str, message: str) -> InvalidError:
        return cls(f"{field}: {message}", [FieldError(field, message)])


class ForbiddenError(DomainError):
    status = 403
    title = "Forbidden"


class UnauthorizedError(DomainError):
    status = 401
    title = "Unauthorized"


class PayloadTooLargeError(DomainError):
    status = 413
    title = "Content too large"
