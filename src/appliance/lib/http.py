"""Shared query-parameter types for list endpoints."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from appliance.lib.crud import MAX_LIMIT

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000, description="rows to skip")]
