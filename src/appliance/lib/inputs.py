"""Bounds every request body meets before any handler sees it (issue 18: NUL characters, nesting)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from appliance.lib.errors import DomainError, FieldError, InvalidError

NUL_ESCAPE = b"\\u0000"
"""How JSON spells a NUL character; a raw NUL byte is not valid JSON at all."""


class MalformedBodyError(DomainError, status=HTTPStatus.BAD_REQUEST, title="Malformed request body"):
    """A request body that cannot be read as the JSON it claims to be."""


def nul_field(value: Any) -> str | None:
    """The path of the first string (value or key) holding a NUL character, else None.
    Iterative: a body may be nested as deep as the decoder allows."""
    stack: list[tuple[Any, str]] = [(value, "body")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return path
                stack.append((inner, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((inner, f"{path}[{i}]") for i, inner in enumerate(item))
    return None


def refuse_nul(raw: bytes, decoded: Any) -> None:
    """PostgreSQL text cannot hold NUL: refuse it here, for every field, with a 422.

    The walk over the decoded value runs only when the raw body spells a NUL at all."""
    if NUL_ESCAPE not in raw:
        return
    where = nul_field(decoded)
    if where is not None:
        raise InvalidError(
            f"{where}: text may not contain NUL (U+0000) characters",
            [FieldError(where, "text may not contain NUL (U+0000) characters")],
        )


def has_nul(text: str) -> bool:
    return "\x00" in text
