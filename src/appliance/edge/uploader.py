"""Delivery of queued events to the API, at least once, deduplicated by the server on event_id.

Per event: ``POST /v1/events/snapshot-url`` → ``PUT`` the JPEG to the presigned URL → ``POST
/v1/events/face`` with the returned ``snapshot_key``. The worker authenticates with its API key
(``POST /v1/auth/token``), renews the JWT before it expires and once on a 401.

Errors (an event never holds up the ones behind it):
- network errors, 502/503/504, 408, 429 → transient: the event is due again after an exponential
  backoff with jitter (``Retry-After`` honoured), and the sender pauses for that long as a whole
  (an API that is down is not hammered by every queued event in turn);
- another 5xx → this event's problem (the API is up: it answered): the event alone is due again
  after its own backoff, with no pause of the sender; the ``max_server_errors``-th such answer
  for the same event dead-letters it;
- any other 4xx → permanent: the event goes to the dead-letter state at once and is counted;
- the snapshot gets ``snapshot_tries`` tries (its URL grant or its PUT failing): after them the
  event is sent without ``snapshot_key`` (counted in ``edge_snapshots_failed_total``, logged).
  Dead letters stay on disk (``appliance edge --dead-letters`` lists them).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec

from appliance.edge.metrics import EdgeMetrics
from appliance.edge.queue import EventQueue, QueueItem

log = logging.getLogger("appliance.edge.uploader")
TRANSIENT_STATUS = frozenset({408, 429})
OUTAGE_STATUS = frozenset({502, 503, 504})
"""5xx answers that say the API (or what is in front of it) is unavailable, not that this event is
bad: they never count towards dead-lettering an event."""
MAX_RETRY_AFTER = 600.0


def backoff_delay(
    attempt: int, base: float = 0.5, cap: float = 60.0, jitter: float = 0.5, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (0-based): ``min(cap, base·2^attempt)``, with the
    upper ``jitter`` fraction randomised (0.5 → uniformly between 50 % and 100 % of it)."""
    ceiling: float = min(cap, base * 2.0 ** min(attempt, 32))
    if jitter <= 0:
        return ceiling
    draw = (rng or random).random()
    return float(ceiling * (1 - jitter + jitter * draw))


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - now(), MAX_RETRY_AFTER))


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        server_error: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.server_error = server_error
        """A 5xx that is not an outage: it counts towards this event's dead-lettering."""


class SnapshotFailed(Exception):
    """The snapshot could not be stored on this try (the event itself may still go)."""


class _ApiUnavailable(Exception):
    """The API did not answer the snapshot grant (down, busy): not the snapshot's fault."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def classify(response: httpx.Response) -> DeliveryError | None:
    status = response.status_code
    if status < 400:
        return None
    detail = response.text[:300]
    message = f"{response.request.method} {response.request.url.path}: HTTP {status} {detail}"
    transient = status >= 500 or status in TRANSIENT_STATUS
    return DeliveryError(
        message,
        permanent=not transient,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
        server_error=status >= 500 and status not in OUTAGE_STATUS,
    )


class TokenSource:
    """A worker JWT from the API key, renewed ``margin`` before expiry or when told it failed."""

    def __init__(
        self,
        http: httpx.Client,
        api_key: str,
        clock: Callable[[], float] = time.monotonic,
        margin: float = 60.0,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.issued = 0

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        response = self._http.post("/v1/auth/token", json={"grant_type": "api_key", "api_key": self._api_key})
        error = classify(response)
        if error is not None:
            raise error
        body = response.json()
        expires_in = float(body.get("expires_in", 900))
        self._token = str(body["access_token"])
        self._renew_at = self._clock() + max(expires_in * 0.5, expires_in - self._margin)
        self.issued += 1


class ApiClient:
    """The worker's authenticated HTTP client (401 → one renewal and one retry)."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.tokens = TokenSource(self.http, api_key)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(2):
            token = self.tokens.token()
            response = self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            if response.status_code == 401 and attempt == 0:
                self.tokens.invalidate(token)
                continue
            return response
        return response  # pragma: no cover - the loop always returns

    def get_json(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        error = classify(response)
        if error is not None:
            raise error
        return response.json()

    def close(self) -> None:
        self.http.close()


@dataclass(eq=False, slots=True)
class Uploader:
    """Sender threads over one queue."""

    queue: EventQueue
    api: ApiClient
    metrics: EdgeMetrics
    _: KW_ONLY
    senders: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    max_server_errors: int = 3
    snapshot_tries: int = 3
    rng: random.Random = field(default_factory=random.Random)
    """Draws the backoff jitter; a seeded one gives repeatable delays."""
    last_success: float | None = field(default=None, init=False)
    last_error: str | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _pause_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _pause_until: float = field(default=0.0, init=False)
    _failures: int = field(default=0, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        # At least one: an event must get one answer before it is dead-lettered or sent bare.
        self.max_server_errors = max(1, self.max_server_errors)
        self.snapshot_tries = max(1, self.snapshot_tries)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        for n in range(self.senders):
            thread = threading.Thread(target=self._run, name=f"edge-sender-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.queue.wake()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def healthy(self) -> bool:
        return self._failures == 0

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self._pause_until - time.monotonic()
            if pause > 0:
                self._stop.wait(min(pause, 1.0))
                continue
            item = self.queue.claim()
            if item is None:
                due = self.queue.next_due_in()
                self.queue.wait_for_change(min(due if due is not None else 1.0, 1.0) or 0.05)
                continue
            self.deliver(item)
            self.metrics.queue_depth.set(self.queue.depth())

    def deliver(self, item: QueueItem) -> bool:
        """One attempt at one event; the queue row ends acked, rescheduled or dead. True if sent."""
        started = time.perf_counter()
        try:
            self._send(item)
        except SnapshotFailed as exc:
            return self._snapshot_failed(item, str(exc))
        except DeliveryError as exc:
            if exc.server_error:
                return self._server_error(item, str(exc))
            return self._failed(item, str(exc), permanent=exc.permanent, retry_after=exc.retry_after)
        except httpx.HTTPError as exc:
            return self._failed(item, f"{type(exc).__name__}: {exc}", permanent=False, retry_after=None)
        self.queue.ack(item.event_id)
        self.metrics.events_sent.inc()
        self.metrics.upload_seconds.observe(time.perf_counter() - started)
        with self._pause_lock:
            self._failures = 0
        self.last_success = time.time()
        return True

    def _failed(self, item: QueueItem, message: str, *, permanent: bool, retry_after: float | None) -> bool:
        self.last_error = message
        if permanent:
            return self._dead(item, message)
        with self._pause_lock:
            delay = backoff_delay(self._failures, self.backoff_base, self.backoff_cap, rng=self.rng)
            if retry_after is not None:
                delay = max(delay, retry_after)
            self._failures += 1
            self._pause_until = max(self._pause_until, time.monotonic() + delay)
        log.warning("event %s: %s; retrying in %.1f s", item.event_id, message, delay)
        self.queue.retry(item.event_id, delay, message)
        self.metrics.events_failed.labels(kind="transient").inc()
        return False

    def _dead(self, item: QueueItem, message: str) -> bool:
        log.error("event %s dead-lettered: %s", item.event_id, message)
        self.queue.fail(item.event_id, message)
        self.metrics.events_failed.labels(kind="dead").inc()
        return False

    def _server_error(self, item: QueueItem, message: str) -> bool:
        """The API answered, with a 5xx for this event: retried alone, dead after the bound."""
        self.last_error = message
        if item.server_errors + 1 >= self.max_server_errors:
            return self._dead(item, f"{message} ({item.server_errors + 1} server errors)")
        delay = backoff_delay(item.server_errors, self.backoff_base, self.backoff_cap, rng=self.rng)
        log.warning("event %s: %s; retrying it in %.1f s", item.event_id, message, delay)
        self.queue.retry(item.event_id, delay, message, server_error=True)
        self.metrics.events_failed.labels(kind="server_error").inc()
        return False

    def _snapshot_failed(self, item: QueueItem, message: str) -> bool:
        """A snapshot try failed (more are left): the event alone is due again soon."""
        self.last_error = message
        delay = backoff_delay(item.snapshot_attempts, self.backoff_base, self.backoff_cap, rng=self.rng)
        log.warning("snapshot of %s: %s; trying again in %.1f s", item.event_id, message, delay)
        self.queue.retry(item.event_id, delay, message, snapshot=True)
        self.metrics.events_failed.labels(kind="snapshot").inc()
        return False

    def _send(self, item: QueueItem) -> None:
        event: dict[str, Any] = msgspec.json.decode(item.payload)
        key = item.snapshot_key
        if key is None and item.snapshot:
            key = self._snapshot_within_tries(item, event)
        if key:
            event["snapshot_key"] = key
        response = self.api.request("POST", "/v1/events/face", json=event)
        error = classify(response)
        if error is not None:
            raise error

    def _snapshot_within_tries(self, item: QueueItem, event: dict[str, Any]) -> str | None:
        """The snapshot's key, or None once its tries are used up (the event then goes without it:
        delivery never waits on a snapshot). Raises ``SnapshotFailed`` while tries are left."""
        try:
            return self._upload_snapshot(item, event)
        except _ApiUnavailable as exc:  # the event could not go either: an ordinary transient error
            raise exc.error from None
        except (DeliveryError, httpx.HTTPError) as exc:
            message = str(exc) or type(exc).__name__
            last_try = item.snapshot_attempts + 1 >= self.snapshot_tries
            permanent = isinstance(exc, DeliveryError) and exc.permanent
            if not (last_try or permanent):
                raise SnapshotFailed(message) from exc
        log.warning(
            "snapshot of %s not stored after %d tries (%s); sending the event without it",
            item.event_id,
            item.snapshot_attempts + 1,
            message,
        )
        self.metrics.snapshots_failed.inc()
        self.queue.drop_snapshot(item.event_id)
        return None

    def _upload_snapshot(self, item: QueueItem, event: dict[str, Any]) -> str:
        try:
            response = self.api.request(
                "POST",
                "/v1/events/snapshot-url",
                json={
                    "event_id": item.event_id,
                    "camera_id": event["camera_id"],
                    "content_type": "image/jpeg",
                },
            )
        except httpx.TransportError as exc:
            raise _ApiUnavailable(exc) from exc
        error = classify(response)
        if error is not None:
            if not error.permanent and not error.server_error:  # outage, 408, 429: the API's state
                raise _ApiUnavailable(error)
            raise error
        grant = response.json()
        headers = grant.get("headers") or {"Content-Type": "image/jpeg"}
        put = self.api.http.request(
            grant.get("method", "PUT"), grant["upload_url"], content=item.snapshot, headers=headers
        )
        error = classify(put)
        if error is not None:
            raise error
        key = str(grant["snapshot_key"])
        self.queue.set_snapshot_key(item.event_id, key)
        return key
