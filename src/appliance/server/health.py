"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from sqlalchemy import text

from appliance.db.migrate import head_revision
from appliance.lib.di import Injected
from appliance.server.services import Recognition, Services
from appliance.storage.base import RAW_BUCKET

PUBLIC = {"public": True}
PROBE_SECONDS = 3.0
"""How long readiness waits for the object store (a dead endpoint retries for longer)."""


class HealthController(Controller):
    tags = ["operations"]

    @get("/healthz", opt=PUBLIC, operation_id="healthz", include_in_schema=True)
    async def healthz(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz", opt=PUBLIC, operation_id="readyz")
    async def readyz(self, services: Injected[Services]) -> Response[dict[str, Any]]:
        """The database answers and its schema is at the migrations' head; the object store
        answers; the vector index answers, once this process uses it. A 503 names what is down."""
        checks: dict[str, Any] = {}
        ready = True
        try:
            async with services.db.engine.connect() as conn:
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
        index = services.recognition.opened_index()
        if index is None:
            checks["vector_index"] = "not opened yet"
        elif await asyncio.to_thread(index.reachable):
            checks["vector_index"] = "ok"
        else:
            checks["vector_index"] = "unreachable"
            ready = False
        checks["object_store"] = await _object_store(services.recognition)
        ready = ready and checks["object_store"] == "ok"
        down = [
            name
            for name, value in checks.items()
            if isinstance(value, str) and value not in ("ok", "not opened yet")
        ]
        return Response(
            {"ready": ready, "checks": checks, "unavailable": down},
            status_code=200 if ready else 503,
            headers=None if ready else {"Retry-After": "5"},
        )


async def _object_store(recognition: Recognition) -> str:
    try:
        store = await asyncio.wait_for(recognition.store(), PROBE_SECONDS)
        await asyncio.wait_for(asyncio.to_thread(store.exists, RAW_BUCKET, "readyz-probe"), PROBE_SECONDS)
    except Exception as exc:  # any failure here means "not ready", never a 500
        return f"unreachable: {type(exc).__name__}"
    return "ok"
