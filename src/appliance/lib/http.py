"""Shared query-parameter types for list endpoints, and a bounded body read."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import Parameter

from appliance.lib.crud import MAX_LIMIT
from appliance.lib.errors import PayloadTooLargeError

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000, description="rows to skip")]


async def read_capped(request: Request[Any, Any, Any], max_bytes: int) -> bytes:
    """The request body, or 413 as soon as it grows past ``max_bytes`` (a chunked body has no
    Content-Length to refuse it by)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"the body may be at most {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
