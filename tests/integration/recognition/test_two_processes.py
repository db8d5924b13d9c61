"""Two real API processes on one database (the embedded index in each): what one writes, the
other sees at its next event — new customers, merges and erasures — and one new person seen by
both at once is one customer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from tests.e2e.server import free_port
from tests.integration.api import Api
from tests.integration.recognition.conftest import Shop, near, unit

from appliance.config import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    for name, value in msgspec.structs.asdict(settings).items():
        if value is not None:
            env[f"APPLIANCE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def start(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", "--port", str(port)],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError(f"the API did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def two_apis(
    rec_settings: Settings, rec_api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """Two ``appliance serve`` processes; after ``rec_api``, whose app wrote the signing key that
    all of them share through the data dir."""
    logs = tmp_path_factory.mktemp("two-apis")
    started: list[subprocess.Popen[bytes]] = []
    bases = []
    try:
        for name in ("a", "b"):  # one after the other: the first writes the signing key
            process, base = start(rec_settings, logs / f"{name}.log")
            started.append(process)
            bases.append(base)
        yield bases
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


class Worker:
    def __init__(self, shop: Shop, base: str) -> None:
        self.shop, self.base = shop, base
        self.headers = {"Authorization": f"Bearer {shop.worker.token}"}

    def post(self, vector: np.ndarray[Any, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/v1/events/face", json=self.shop.event(vector), headers=self.headers, timeout=30
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def test_one_new_person_seen_by_both_processes_at_once_is_one_customer(
    shop: Shop, two_apis: list[str]
) -> None:
    a, b = (Worker(shop, base) for base in two_apis)
    rng = np.random.default_rng(41)
    a.post(unit(rng))  # both hold the tenant's vectors
    b.post(unit(rng))
    face = unit(rng)
    posts = [(a if i % 2 else b).post for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda post: post(near(face, 0.93, rng)), posts))
    assert len({answer["customer_id"] for answer in answers}) == 1
    assert sum(answer["is_new_customer"] for answer in answers) == 1


def test_a_merge_and_an_erasure_in_one_process_reach_the_other(shop: Shop, two_apis: list[str]) -> None:
    a, b = (Worker(shop, base) for base in two_apis)
    rng = np.random.default_rng(43)
    first_face, second_face, erased_face = unit(rng), unit(rng), unit(rng)
    first, second, erased = a.post(first_face), a.post(second_face), a.post(erased_face)
    for face, made in ((first_face, first), (second_face, second), (erased_face, erased)):
        assert b.post(near(face, 0.9, rng))["customer_id"] == made["customer_id"]  # b sees a's writes

    admin = httpx.Client(base_url=two_apis[0], headers={"Authorization": f"Bearer {shop.admin.token}"})
    merged = admin.post(
        f"/v1/customers/{first['customer_id']}/merge", json={"source_ids": [second["customer_id"]]}
    )
    assert merged.status_code == 200, merged.text
    assert admin.delete(f"/v1/customers/{erased['customer_id']}").status_code in (200, 204)

    assert b.post(near(second_face, 0.9, rng))["customer_id"] == first["customer_id"]
    after = b.post(near(erased_face, 0.9, rng))
    assert after["customer_id"] != erased["customer_id"] and after["is_new_customer"]
    uuid.UUID(after["customer_id"])
