"""PostgreSQL cut mid-ingest: the API's connections go through a TCP proxy that the test cuts for
a few seconds while four senders post events and retry as the edge does (same event id, after
Retry-After). Afterwards every event is stored exactly once and no row is half-written; during
the outage the API answers 503 + Retry-After, never 500."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.server.app import create_app
from tests.faults.conftest import integrity, recent
from tests.faults.proxy import TcpProxy
from tests.integration.api import Api, system_admin_api
from tests.integration.recognition.conftest import DIM, Shop, near, unit

pytestmark = pytest.mark.timeout(240)
SENDERS = 4
FACES = 60
EVENTS_PER_FACE = 4
OUTAGE_SECONDS = 4.0


@dataclass
class Outcome:
    expected: set[str]
    tenant_id: str
    faces: int
    statuses: Counter[int] = field(default_factory=Counter)
    """Answers while PostgreSQL was away (and until the first success after)."""
    missing_retry_after: int = 0
    unanswered: list[str] = field(default_factory=list)
    customers_per_face: list[int] = field(default_factory=list)
    sites_status: int = 0
    report: dict[str, int] = field(default_factory=dict)


def via_proxy(settings: Settings, proxy: TcpProxy, tmp: str) -> Settings:
    parts = urlsplit(settings.database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    database_url = urlunsplit(
        (parts.scheme, f"{netloc[0]}@{host}" if len(netloc) == 2 else host, parts.path, parts.query, "")
    )
    return msgspec.structs.replace(
        settings, database_url=database_url, embedding_dim=DIM, data_dir=tmp, scheduler=False
    )


@pytest.fixture(scope="module")
def pg_cut(pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    port = urlsplit(pg_settings.database_url).port or 5432
    proxy = TcpProxy("127.0.0.1", port).start()
    settings = via_proxy(pg_settings, proxy, str(tmp_path_factory.mktemp("pg-cut-data")))
    try:
        with TestClient(app=create_app(settings)) as client:
            yield run_outage(client, settings, proxy)
    finally:
        proxy.cut()


def run_outage(client: TestClient[Litestar], settings: Settings, proxy: TcpProxy) -> Outcome:
    api: Api = system_admin_api(client, settings)
    shop = Shop(api)
    rng = np.random.default_rng(1800)
    faces = [unit(rng) for _ in range(FACES)]
    events: list[list[dict[str, Any]]] = [[] for _ in range(SENDERS)]
    by_face: dict[str, int] = {}
    for round_ in range(EVENTS_PER_FACE):
        for index, face in enumerate(faces):
            body = shop.event(near(face, 0.97, rng), recent(30 - round_))
            events[index % SENDERS].append(body)
            by_face[body["event_id"]] = index
    outcome = Outcome({e["event_id"] for batch in events for e in batch}, shop.tenant["id"], FACES)
    outage = threading.Event()
    lock = threading.Lock()
    answered: dict[str, dict[str, Any]] = {}

    def sender(batch: list[dict[str, Any]]) -> None:
        for body in batch:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    response = shop.worker.post("/v1/events/face", json=body)
                except Exception:  # the in-process client raised: count as a 500
                    status, retry_after = 500, None
                else:
                    status, retry_after = response.status_code, response.headers.get("Retry-After")
                if status == 200:
                    with lock:
                        answered[body["event_id"]] = response.json()
                    break
                with lock:
                    outcome.statuses[status] += 1
                    if retry_after is None:
                        outcome.missing_retry_after += 1
                time.sleep(min(float(retry_after or 0.5), 1.0))  # the edge backs off; kept short here
            else:
                with lock:
                    outcome.unanswered.append(body["event_id"])
            if outage.is_set():
                time.sleep(0.01)

    threads = [threading.Thread(target=sender, args=(batch,)) for batch in events]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(answered) < len(outcome.expected) // 5:  # under way: a fifth delivered
        assert time.monotonic() < deadline, "the senders made no progress"
        time.sleep(0.005)
    outage.set()
    proxy.cut()
    try:
        time.sleep(OUTAGE_SECONDS / 2)
        outcome.sites_status = shop.admin.get("/v1/sites").status_code
        time.sleep(OUTAGE_SECONDS / 2)
    finally:
        proxy.restore()
        outage.clear()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    customers: dict[int, set[str]] = {}
    for event_id, answer in answered.items():
        customers.setdefault(by_face[event_id], set()).add(answer["customer_id"])
    outcome.customers_per_face = [len(customers.get(i, set())) for i in range(FACES)]
    outcome.report = integrity(settings, outcome.tenant_id, outcome.expected)
    return outcome


def test_no_event_is_lost_duplicated_or_half_written(pg_cut: Outcome) -> None:
    assert sum(pg_cut.statuses.values()) > 0, "the outage never reached an ingest"
    assert pg_cut.unanswered == []
    report = pg_cut.report
    assert (report["lost"], report["duplicated"], report["half_written"]) == (0, 0, 0), report
    # One person, one customer: the outage did not make a second customer for anyone.
    assert pg_cut.customers_per_face == [1] * pg_cut.faces


def test_the_outage_answers_503_with_retry_after(pg_cut: Outcome) -> None:
    assert set(pg_cut.statuses) == {503}, pg_cut.statuses
    assert pg_cut.missing_retry_after == 0
    assert pg_cut.sites_status == 503
