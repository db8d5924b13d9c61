"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, Response, get
from sqlalchemy import text

from appliance.db.migrate import head_revision

PUBLIC = {"public": True}


class HealthController(Controller):
    tags = ["operations"]

    @get("/healthz", opt=PUBLIC, operation_id="healthz", include_in_schema=True)
    async def healthz(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz", opt=PUBLIC, operation_id="readyz")
    async def readyz(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """The database answers and its schema is at the migrations' head; the vector index
        answers, once this process uses it."""
        checks: dict[str, Any] = {}
        ready = True
        try:
            async with request.app.state.services.db.engine.connect() as conn:
                current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            checks["database"] = "ok"
            head = head_revision()
            checks["migrations"] = {"current": current, "head": head}
            ready = current == head
        except Exception as exc:  # any failure here means "not ready", never a 500
            checks["database"] = f"unreachable: {type(exc).__name__}"
            ready = False
        # The vector index opens on the first request that needs it; once open, ingest fails
        # without it (a Milvus server down).
        index = request.app.state.services.recognition.opened_index()
        if index is None:
            checks["vector_index"] = "not opened yet"
        elif await asyncio.to_thread(index.reachable):
            checks["vector_index"] = "ok"
        else:
            checks["vector_index"] = "unreachable"
            ready = False
        return Response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
