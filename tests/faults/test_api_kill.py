"""kill -9 of a real ``appliance serve`` under load: four senders post events and retry as the edge
does (same event id) while the process is killed mid-stream and started again. Every event is then
stored exactly once, nobody is split into two customers, no row is half-written, and no answer
the API gave was a 500."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest

from appliance.config import Settings
from tests.faults.conftest import integrity, recent, serve
from tests.integration.api import Api, bootstrap_system_admin
from tests.integration.recognition.conftest import DIM, Shop, near, unit
from tests.integration.storage.conftest import free_ports

pytestmark = pytest.mark.timeout(240)
SENDERS = 4
FACES = 60
EVENTS_PER_FACE = 4


def test_kill_9_under_load_loses_and_duplicates_nothing(pg_settings: Settings, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(
        pg_settings, embedding_dim=DIM, data_dir=str(tmp_path / "data"), scheduler=False
    )
    port = free_ports(1)[0]
    log = tmp_path / "api.log"
    process = serve(settings, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            username, password = bootstrap_system_admin(settings)
            token = http.post(
                "/v1/auth/token", json={"grant_type": "password", "username": username, "password": password}
            ).json()["access_token"]
            client: Any = http
            shop = Shop(Api(client, token))
            rng = np.random.default_rng(1801)
            faces = [unit(rng) for _ in range(FACES)]
            batches: list[list[dict[str, Any]]] = [[] for _ in range(SENDERS)]
            face_of: dict[str, int] = {}
            for round_ in range(EVENTS_PER_FACE):
                for index, face in enumerate(faces):
                    body = shop.event(near(face, 0.97, rng), recent(30 - round_))
                    batches[index % SENDERS].append(body)
                    face_of[body["event_id"]] = index
            expected = set(face_of)
            answered: dict[str, str] = {}
            statuses: Counter[int] = Counter()
            lock = threading.Lock()
            headers = dict(shop.worker.headers())

            def sender(batch: list[dict[str, Any]]) -> None:
                with httpx.Client(base_url=base, timeout=10, headers=headers) as own:
                    for body in batch:
                        deadline = time.monotonic() + 90
                        while time.monotonic() < deadline:
                            try:
                                response = own.post("/v1/events/face", json=body)
                            except httpx.TransportError:
                                time.sleep(0.2)  # no answer at all: the process is down
                                continue
                            if response.status_code == 200:
                                with lock:
                                    answered[body["event_id"]] = response.json()["customer_id"]
                                break
                            with lock:
                                statuses[response.status_code] += 1
                            time.sleep(0.2)

            threads = [threading.Thread(target=sender, args=(batch,)) for batch in batches]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 60
            while len(answered) < len(expected) // 4:
                assert time.monotonic() < deadline, "the senders made no progress"
                time.sleep(0.005)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            killed_at = len(answered)
            time.sleep(1.0)
            process = serve(settings, port, log)
            for thread in threads:
                thread.join(timeout=150)
            assert not any(thread.is_alive() for thread in threads)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()

    assert 0 < killed_at < len(expected), "the kill did not land mid-stream"
    assert set(answered) == expected
    report = integrity(settings, shop.tenant["id"], expected)
    assert (report["lost"], report["duplicated"], report["half_written"]) == (0, 0, 0), report
    per_face: dict[int, set[str]] = {}
    for event_id, customer in answered.items():
        per_face.setdefault(face_of[event_id], set()).add(customer)
    assert [len(per_face[i]) for i in range(FACES)] == [1] * FACES
    assert 500 not in statuses, statuses
