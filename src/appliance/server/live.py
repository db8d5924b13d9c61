"""Live events: PostgreSQL LISTEN/NOTIFY fanned out to Server-Sent-Event subscribers.

Ingest announces each committed sighting (``domain/events/notify.py``, batched: a payload is a
JSON array of events), and every API process (each with its own listener) sees every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from appliance.domain.auth.principal import Principal
from appliance.domain.events.notify import EVENTS_CHANNEL

log = logging.getLogger("appliance.live")
QUEUE_SIZE = 256
KEEPALIVE_SECONDS = 15.0
RECONNECT_FIRST_WAIT = 0.5
RECONNECT_MAX_WAIT = 10.0
"""The listener's reconnection waits double from the first to the last (tenacity)."""
RECHECK_SECONDS = 2.0
"""How often an open stream checks that its caller may still see it (the user still enabled and
unchanged): a revoked user's stream ends within this long."""


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("live listener cannot reach the database; retrying in %.1fs", wait, exc_info=error)


class LiveHub:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._subscribers: set[tuple[Principal, uuid.UUID, asyncio.Queue[dict[str, Any]]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def _listen(self) -> None:
        while True:  # a connection that came up and was lost starts a fresh backoff schedule
            conn = await self._connect()
            try:
                async with conn:
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except Exception:  # the database went away: reconnect, subscribers stay connected
                log.warning("live listener lost its connection; reconnecting", exc_info=True)
            finally:
                self._ready.clear()
            await asyncio.sleep(RECONNECT_FIRST_WAIT)  # never a tight loop of connections

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection listening on the events channel, retried until the database answers."""
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=RECONNECT_FIRST_WAIT, max=RECONNECT_MAX_WAIT),
            retry=retry_if_exception_type(Exception),
            before_sleep=_log_retry,
        )
        async for attempt in retrying:
            with attempt:
                conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
                try:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                except BaseException:
                    await conn.close()
                    raise
        self._ready.set()
        return conn

    def _dispatch(self, payload: str) -> None:
        try:
            decoded = json.loads(payload)
        except ValueError:
            return
        for event in decoded if isinstance(decoded, list) else [decoded]:
            if isinstance(event, dict):
                self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        for principal, tenant_id, queue in list(self._subscribers):
            if event.get("tenant_id") != str(tenant_id):
                continue
            if principal.site_scoped and event.get("site_id") not in {str(s) for s in principal.site_ids}:
                continue
            with contextlib.suppress(asyncio.QueueFull):  # a slow browser drops events, never blocks others
                queue.put_nowait(event)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="live-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=5.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def subscribe(
        self,
        principal: Principal,
        tenant_id: uuid.UUID,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The tenant's events the caller may see, until its token expires (``expires_at``) or
        ``still_allowed`` (asked every ``RECHECK_SECONDS``) says no: then a last ``revoked``
        event, and the stream ends."""
        await self.start()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        entry = (principal, tenant_id, queue)
        self._subscribers.add(entry)
        expires_at = principal.expires_at or float("inf")
        checked = time.monotonic()
        last_sent = checked
        try:
            yield {"type": "ready"}
            while True:
                now = time.monotonic()
                if time.time() >= expires_at:
                    yield {"type": "revoked", "reason": "token expired"}
                    return
                if still_allowed is not None and now - checked >= RECHECK_SECONDS:
                    checked = now
                    try:
                        allowed = await still_allowed()
                    except Exception:  # the database is away: end here, the browser reconnects (503)
                        log.warning("live stream: cannot check its caller; ending it", exc_info=True)
                        yield {"type": "unavailable", "reason": "try again shortly"}
                        return
                    if not allowed:
                        yield {"type": "revoked", "reason": "access revoked"}
                        return
                wait = min(
                    KEEPALIVE_SECONDS - (now - last_sent),
                    RECHECK_SECONDS - (now - checked),
                    expires_at - time.time(),
                )
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=max(wait, 0.01))
                except TimeoutError:
                    if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                        last_sent = time.monotonic()
                        yield {"type": "keepalive"}
                    continue
                last_sent = time.monotonic()
                yield event
        finally:
            self._subscribers.discard(entry)
