"""Delivery semantics against a scripted HTTP server (a real socket server standing in for the
API, so 401/429/503/422 can be produced on demand; the real API is exercised in integration)."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.edge.metrics import EdgeMetrics
from appliance.edge.queue import EventQueue, read_dead_letters
from appliance.edge.uploader import ApiClient, TokenSource, Uploader


class ScriptedApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.tokens = 0
        self.expires_in = 900
        self.upload_base: str | None = None
        """Where presigned uploads point (default: this server)."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                api.requests.append((self.command, self.path, dict(self.headers), body))
                path = self.path.split("?")[0]
                scripted = api.script.get(path)
                if scripted:
                    status, headers = scripted.pop(0)
                    return self._reply(status, {"title": "scripted"}, headers)
                if path == "/v1/auth/token":
                    api.tokens += 1
                    return self._reply(
                        200, {"access_token": f"jwt-{api.tokens}", "expires_in": api.expires_in}
                    )
                if self.headers.get("authorization") != f"Bearer jwt-{api.tokens}" and path.startswith(
                    "/v1/"
                ):
                    return self._reply(401, {"title": "unauthorized"})
                if path == "/v1/events/snapshot-url":
                    event_id = json.loads(body)["event_id"]
                    port = self.server.server_address[1]
                    base = api.upload_base or f"http://127.0.0.1:{port}"
                    return self._reply(
                        200,
                        {
                            "snapshot_key": f"t/s/{event_id}.jpg",
                            "upload_url": f"{base}/upload/{event_id}.jpg?sig=x",
                            "method": "PUT",
                            "expires_in": 900,
                            "headers": {"Content-Type": "image/jpeg"},
                        },
                    )
                if path.startswith("/upload/"):
                    return self._reply(200, {})
                if path == "/v1/events/face":
                    return self._reply(200, {"event_id": json.loads(body)["event_id"]})
                return self._reply(404, {"title": "no route"})

            do_GET = do_POST = do_PUT = _handle

            def _reply(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def paths(self, method: str | None = None) -> list[str]:
        return [p.split("?")[0] for m, p, _, _ in self.requests if method in (None, m)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    server = ScriptedApi()
    yield server
    server.close()


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[EventQueue]:
    q = EventQueue(tmp_path / "q.sqlite3")
    yield q
    q.close()


def make_uploader(api: ScriptedApi, queue: EventQueue) -> tuple[Uploader, EdgeMetrics]:
    metrics = EdgeMetrics()
    client = ApiClient(api.url, "edge-key", timeout=5)
    return Uploader(queue, client, metrics, senders=1, backoff_base=0.5, backoff_cap=8), metrics


EVENT = {
    "event_id": "0b7c0e0e-0000-4000-8000-000000000001",
    "camera_id": "c0ffee00-0000-4000-8000-000000000002",
}


def enqueue(queue: EventQueue, snapshot: bytes | None = b"\xff\xd8jpeg") -> None:
    queue.put(EVENT["event_id"], EVENT["camera_id"], json.dumps(EVENT).encode(), snapshot)


def attempt(uploader: Uploader, queue: EventQueue) -> bool:
    item = queue.claim()
    assert item is not None
    return uploader.deliver(item)


def test_snapshot_then_event_with_its_key(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue)
    assert attempt(uploader, queue)
    assert api.paths() == [
        "/v1/auth/token",
        "/v1/events/snapshot-url",
        f"/upload/{EVENT['event_id']}.jpg",
        "/v1/events/face",
    ]
    put = next(r for r in api.requests if r[0] == "PUT")
    assert (
        put[3] == b"\xff\xd8jpeg" and put[2]["Content-Type"] == "image/jpeg" and "Authorization" not in put[2]
    )
    face = json.loads(api.requests[-1][3])
    assert face["snapshot_key"] == f"t/s/{EVENT['event_id']}.jpg" and face["event_id"] == EVENT["event_id"]
    assert queue.stats().sent == 1 and metrics.value("edge_events_sent_total") == 1


def test_5xx_is_retried_with_backoff_and_the_same_event_id(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    api.script["/v1/events/face"] = [(503, {})]
    assert not attempt(uploader, queue)
    assert (
        queue.stats().pending == 1 and metrics.value("edge_events_failed_total", {"kind": "transient"}) == 1
    )
    assert 0.25 <= (queue.next_due_in() or 0) <= 0.5
    assert not uploader.healthy
    queue._clock = lambda: 10**10  # type: ignore[method-assign]  # time passes
    assert attempt(uploader, queue)
    bodies = [json.loads(b)["event_id"] for m, p, _, b in api.requests if p == "/v1/events/face"]
    assert bodies == [EVENT["event_id"]] * 2 and uploader.healthy


def test_429_honours_retry_after(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, _ = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    api.script["/v1/events/face"] = [(429, {"Retry-After": "7"})]
    assert not attempt(uploader, queue)
    assert 6.5 <= (queue.next_due_in() or 0) <= 7.0


def test_permanent_4xx_goes_to_the_dead_letter_state(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    api.script["/v1/events/face"] = [(422, {})]
    assert not attempt(uploader, queue)
    stats = queue.stats()
    assert stats.dead == 1 and stats.depth == 0
    assert metrics.value("edge_events_failed_total", {"kind": "dead"}) == 1


def test_401_renews_the_token_once(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, _ = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    assert attempt(uploader, queue)
    api.tokens += 1  # the server rotated: the worker's token is now refused
    enqueue_id = "0b7c0e0e-0000-4000-8000-000000000009"
    queue.put(enqueue_id, EVENT["camera_id"], json.dumps({**EVENT, "event_id": enqueue_id}).encode())
    assert attempt(uploader, queue)
    assert api.paths().count("/v1/auth/token") == 2


def test_network_errors_are_transient(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    api.close()
    assert not attempt(uploader, queue)
    assert queue.stats().pending == 1 and "Connect" in (uploader.last_error or "")
    assert metrics.value("edge_events_failed_total", {"kind": "transient"}) == 1


def test_a_refused_snapshot_only_loses_the_snapshot(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue)
    api.script[f"/upload/{EVENT['event_id']}.jpg"] = [(403, {})]
    assert attempt(uploader, queue)
    face = json.loads(api.requests[-1][3])
    assert "snapshot_key" not in face and metrics.value("edge_snapshots_failed_total") == 1


def test_a_retry_does_not_upload_the_snapshot_twice(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, _ = make_uploader(api, queue)
    enqueue(queue)
    api.script["/v1/events/face"] = [(500, {})]
    assert not attempt(uploader, queue)
    queue._clock = lambda: 10**10  # type: ignore[method-assign]
    assert attempt(uploader, queue)
    assert api.paths("PUT") == [f"/upload/{EVENT['event_id']}.jpg"]
    assert json.loads(api.requests[-1][3])["snapshot_key"] == f"t/s/{EVENT['event_id']}.jpg"


def test_token_is_renewed_before_it_expires(api: ScriptedApi) -> None:
    api.expires_in = 300
    now = [0.0]
    with httpx.Client(base_url=api.url) as http:
        tokens = TokenSource(http, "edge-key", clock=lambda: now[0], margin=60)
        assert tokens.token() == "jwt-1"
        now[0] = 239.0
        assert tokens.token() == "jwt-1"
        now[0] = 240.0  # 60 s before expiry
        assert tokens.token() == "jwt-2" and tokens.issued == 2


def test_sender_threads_drain_the_queue(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    for n in range(20):
        event_id = f"0b7c0e0e-0000-4000-8000-{n:012d}"
        queue.put(event_id, EVENT["camera_id"], json.dumps({**EVENT, "event_id": event_id}).encode())
    uploader.senders = 3
    uploader.start()
    try:
        for _ in range(100):
            if queue.stats().sent == 20:
                break
            threading.Event().wait(0.05)
    finally:
        uploader.stop()
    assert queue.stats().sent == 20 and metrics.value("edge_events_sent_total") == 20
    sent = [json.loads(b)["event_id"] for m, p, _, b in api.requests if p == "/v1/events/face"]
    assert len(sent) == len(set(sent)) == 20


def later(queue: EventQueue) -> None:
    """From now on every retry is due at the next claim: each reading of the clock is a minute on."""
    ticks = iter(range(10**10, 10**11, 60))
    queue._clock = lambda: float(next(ticks))  # type: ignore[method-assign]


def test_a_repeated_500_dead_letters_the_event_on_its_third_answer(
    api: ScriptedApi, queue: EventQueue
) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    api.script["/v1/events/face"] = [(500, {})] * 3
    assert not attempt(uploader, queue)
    # the event alone waits; the sender does not pause for it (the API is up: it answered)
    assert uploader._pause_until == 0.0 and queue.stats().pending == 1
    later(queue)
    assert not attempt(uploader, queue)
    assert queue.stats().pending == 1
    assert not attempt(uploader, queue)
    assert queue.stats().dead == 1 and queue.stats().depth == 0
    assert api.paths().count("/v1/events/face") == 3
    assert metrics.value("edge_events_failed_total", {"kind": "server_error"}) == 2
    assert metrics.value("edge_events_failed_total", {"kind": "dead"}) == 1
    (dead,) = read_dead_letters(queue.path)
    assert dead.event_id == EVENT["event_id"] and "HTTP 500" in (dead.last_error or "")
    assert dead.attempts == 3


def test_an_outage_503_never_dead_letters(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, _ = make_uploader(api, queue)
    enqueue(queue, snapshot=None)
    api.script["/v1/events/face"] = [(503, {})] * 5
    later(queue)
    for _ in range(5):
        uploader._pause_until = 0.0
        assert not attempt(uploader, queue)
    assert queue.stats().dead == 0 and queue.stats().pending == 1
    uploader._pause_until = 0.0
    assert attempt(uploader, queue)


def test_a_snapshot_that_cannot_be_stored_gets_bounded_tries(api: ScriptedApi, queue: EventQueue) -> None:
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue)
    api.script[f"/upload/{EVENT['event_id']}.jpg"] = [(500, {})] * 3
    assert not attempt(uploader, queue)
    assert uploader._pause_until == 0.0  # the snapshot store's trouble does not stop other events
    later(queue)
    assert not attempt(uploader, queue)
    assert attempt(uploader, queue)  # third try failed too: the event goes without its snapshot
    assert api.paths("PUT").count(f"/upload/{EVENT['event_id']}.jpg") == 3
    face = json.loads(api.requests[-1][3])
    assert face["event_id"] == EVENT["event_id"] and "snapshot_key" not in face
    assert metrics.value("edge_snapshots_failed_total") == 1
    assert queue.stats().sent == 1


def test_a_snapshot_url_nobody_answers_does_not_hold_the_event(api: ScriptedApi, queue: EventQueue) -> None:
    """A presigned URL for a port the server does not listen on (issue 17): refused connections."""
    uploader, metrics = make_uploader(api, queue)
    enqueue(queue)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    api.upload_base = f"http://127.0.0.1:{dead_port}"
    later(queue)
    results = [attempt(uploader, queue) for _ in range(3)]
    assert results == [False, False, True]
    assert "snapshot_key" not in json.loads(api.requests[-1][3])
    assert metrics.value("edge_snapshots_failed_total") == 1


def test_an_old_queue_file_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,"
        " dedupe_key TEXT UNIQUE, camera_id TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
        " attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL,"
        " claimed_at REAL, sent_at REAL, payload BLOB NOT NULL, snapshot BLOB, snapshot_key TEXT,"
        " last_error TEXT);"
        "INSERT INTO events (event_id, camera_id, created_at, next_attempt_at, payload)"
        " VALUES ('e1', 'c1', 0, 0, x'7b7d');"
    )
    old.commit()
    old.close()
    queue = EventQueue(path)
    try:
        item = queue.claim()
        assert item is not None and item.event_id == "e1"
        assert item.server_errors == 0 and item.snapshot_attempts == 0
    finally:
        queue.close()
