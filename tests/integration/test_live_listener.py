"""appliance.server.live: the LISTEN connection comes back by itself when PostgreSQL drops it, and
the open streams go on receiving (no stream is ended by the reconnection)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import psycopg
import pytest

from appliance.config import Settings
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.events.notify import EVENTS_CHANNEL
from appliance.server.live import LiveHub


def test_listener_reconnects_after_its_connection_is_killed(pg_settings: Settings) -> None:
    tenant = uuid.uuid4()
    principal = Principal(sub="u", role=Role.TENANT_ADMIN, tenant_id=tenant)

    async def scenario() -> list[dict[str, object]]:
        hub = LiveHub(pg_settings.database_url)
        stream = hub.subscribe(principal, tenant)
        received = [await anext(stream)]  # "ready": the listener is up
        async with await psycopg.AsyncConnection.connect(pg_settings.database_url, autocommit=True) as admin:
            killed = await (
                await admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query = %s",
                    (f"LISTEN {EVENTS_CHANNEL}",),
                )
            ).fetchone()
            assert killed is not None and killed[0] == 1
            # Announce until the new connection hears it (it is due within the first wait).
            payload = json.dumps([{"tenant_id": str(tenant), "event_id": "after-reconnect"}])
            following = asyncio.ensure_future(anext(stream))
            for _ in range(50):
                await admin.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, payload))
                done, _ = await asyncio.wait({following}, timeout=0.2)
                if done:
                    received.append(following.result())
                    break
            else:
                following.cancel()
        await stream.aclose()
        await hub.stop()
        return received

    received = asyncio.run(scenario())
    assert received[0] == {"type": "ready"}
    assert received[1:] == [{"tenant_id": str(tenant), "event_id": "after-reconnect"}]


def test_listener_retries_an_unreachable_database_with_growing_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        hub = LiveHub("postgresql://appliance@127.0.0.1:1/nowhere?connect_timeout=1")
        task = asyncio.ensure_future(hub.start())
        await asyncio.sleep(2.0)  # attempts at 0, 0.5 and 1.5 s; the next one waits 2 s more
        task.cancel()
        await hub.stop()

    with caplog.at_level(logging.WARNING, logger="appliance.live"):
        asyncio.run(scenario())
    waits = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records if r.name == "appliance.live"]
    assert waits == ["0.5s", "1.0s", "2.0s"], waits
