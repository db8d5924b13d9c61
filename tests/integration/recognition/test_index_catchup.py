"""An API process killed with index writes not yet applied loses nothing: the next process
catches up from PostgreSQL before it answers (``vectors/journal.py``, ``vectors/catchup.py``).

A real ``appliance serve`` (with its Milvus Lite sidecar) on its own data dir, killed with
SIGKILL while its write-behind still holds the new customers' vectors; then a second ``serve``
on the same data dir must recognise every one of those faces."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from tests.integration.api import Api
from tests.integration.recognition.conftest import DIM, MODELS_DIR, REPO, Shop, near, unit

from appliance.config import Settings
from appliance.vectors.base import VectorItem
from appliance.vectors.lite_server import lite_data_dir
from appliance.vectors.milvus import MilvusIndex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(settings: Settings, data_dir: Path, **extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(
        {
            "APPLIANCE_DATABASE_URL": settings.database_url,
            "APPLIANCE_APP_ROLE": settings.app_role,
            "APPLIANCE_DATA_DIR": str(data_dir),
            "APPLIANCE_EMBEDDING_DIM": str(DIM),
            "APPLIANCE_MODELS_DIR": str(MODELS_DIR),
            "APPLIANCE_SCHEDULER": "false",
            **extra,
        }
    )
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def post_event(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/v1/events/face", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def worker_token(url: str, api_key: str) -> str:
    response = httpx.post(f"{url}/v1/auth/token", json={"grant_type": "api_key", "api_key": api_key})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def wait_until_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"process {pid} still runs")


def owner_connection(settings: Settings) -> psycopg.Connection[Any]:
    from tests.conftest import PG_ADMIN_URL

    return psycopg.connect(
        PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + settings.database_url.rsplit("/", 1)[1], autocommit=True
    )


def backdate(settings: Settings, tenant_id: str, journal_dir: Path, by: timedelta) -> None:
    """Move the dead process's writes and its journal back in time, as if it had died long ago:
    then only the catch-up (not the 15 s look at recent new customers) can find them."""
    with owner_connection(settings) as conn:
        for table in ("customer_exemplars", "customers"):
            conn.execute(
                f"UPDATE {table} SET created_at = created_at - %s WHERE tenant_id = %s",
                (by, uuid.UUID(tenant_id)),
            )
    for state in journal_dir.glob("*.json"):
        applied = datetime.fromisoformat(json.loads(state.read_text())["applied_before"])
        state.write_text(json.dumps({"applied_before": (applied - by).isoformat()}))


def test_a_killed_api_loses_no_index_writes(rec_api: Api, rec_settings: Settings, tmp_path: Path) -> None:
    shop = Shop(rec_api)
    api_key = shop.admin.ok("POST", "/v1/api-keys", 201, json={"site_id": shop.site["id"]})["api_key"]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rng = np.random.default_rng(11)
    faces = [unit(rng) for _ in range(5)]

    # 1. New customers, their vectors still in the write-behind (it applies every 10 s) …
    with serve(rec_settings, data_dir, APPLIANCE_VECTOR_FLUSH_SECONDS="10") as (url, proc):
        token = worker_token(url, api_key)
        first = [post_event(url, token, shop.event(face)) for face in faces]
        assert all(answer["is_new_customer"] for answer in first)
        sidecar_pid = json.loads((data_dir / "milvus" / "server.json").read_text())["pid"]
        proc.send_signal(signal.SIGKILL)  # … when the process dies
        proc.wait(timeout=10)
    wait_until_gone(sidecar_pid)  # it follows its parent

    journal_dir = data_dir / "index-sync"
    assert len(list(journal_dir.glob("*.lock"))) == 1  # the dead process's journal stayed
    lite = MilvusIndex(str(lite_data_dir(data_dir)), DIM)
    try:
        lite.ensure_collection()
        assert lite.count(uuid.UUID(shop.tenant["id"])) == 0  # the crash lost every vector
    finally:
        lite.close()
    backdate(rec_settings, shop.tenant["id"], journal_dir, timedelta(hours=1))

    # 2. The next process catches up before it searches: every face is a returning customer.
    with serve(rec_settings, data_dir) as (url, _):
        token = worker_token(url, api_key)
        again = [post_event(url, token, shop.event(near(face, 0.9, rng))) for face in faces]
        assert [a["customer_id"] for a in again] == [a["customer_id"] for a in first]
        assert not any(a["is_new_customer"] for a in again)
        deadline = time.monotonic() + 30  # the second look and the flush finish in the background
        while len(list(journal_dir.glob("*.lock"))) > 1:
            assert time.monotonic() < deadline, "the dead journal was not removed"
            time.sleep(0.2)
        metrics = httpx.get(f"{url}/metrics").text.splitlines()
        [counted] = [line for line in metrics if line.startswith("appliance_vector_catchup_exemplars_total ")]
        # the five, and whatever other tests' tenants wrote in the window
        assert float(counted.split()[1]) >= len(faces)
    assert list(journal_dir.iterdir()) == []  # a clean stop leaves no journal either


def test_the_second_look_undoes_what_changed_while_catching_up(
    shop: Shop, rec_settings: Settings, tmp_path: Path
) -> None:
    """An exemplar replaced (deleted) and one moved by a merge after the catch-up read them:
    the second look deletes the first from the index again and writes the second with its new
    customer — a catch-up beside live ingest brings nothing back. A vector whose delete the dead
    process lost (an exemplar it replaced) goes too."""
    import asyncio

    from appliance.db.engine import Database, make_async_engine
    from appliance.vectors.batcher import SearchBatcher
    from appliance.vectors.catchup import reapply, recheck
    from appliance.vectors.pending import WriteBehindIndex

    rng = np.random.default_rng(12)
    faces = [unit(rng) for _ in range(3)]
    answers = [shop.post(shop.event(face)) for face in faces]
    tenant = uuid.UUID(shop.tenant["id"])
    replaced, moved, keeper = (uuid.UUID(a["customer_id"]) for a in answers)
    index = MilvusIndex(str(tmp_path / "milvus" / "vectors.db"), DIM)
    index.ensure_collection()

    async def scenario() -> Any:
        db = Database(make_async_engine(rec_settings.runtime_database_url, 2))
        vectors = WriteBehindIndex(SearchBatcher(index))
        try:
            report = await reapply(db, vectors, datetime.now().astimezone() - timedelta(minutes=5))
            assert len(report.written[tenant]) == 3 and report.tenants >= 1
            with owner_connection(rec_settings) as conn:  # meanwhile, in PostgreSQL:
                conn.execute("DELETE FROM customer_exemplars WHERE customer_id = %s", (replaced,))
                conn.execute(
                    "UPDATE customer_exemplars SET customer_id = %s WHERE customer_id = %s", (keeper, moved)
                )
            lost_delete = VectorItem(id=uuid.uuid4(), customer_id=keeper, vector=unit(rng).tolist())
            await vectors.upsert(tenant, [lost_delete])  # in the index, not in PostgreSQL
            await recheck(db, vectors, report)
            return report
        finally:
            await vectors.close()
            await db.dispose()

    try:
        report = asyncio.run(scenario())
        assert (report.deleted, report.moved, report.stale) == (1, 1, 1)
        owners = [
            {hit.customer_id for hit in hits if hit.score > 0.99}
            for hits in index.search(tenant, [face.tolist() for face in faces], top_k=3)
        ]
        assert owners == [set(), {keeper}, {keeper}]
        assert index.count(tenant) == 2
    finally:
        index.close()


def test_a_failed_catch_up_keeps_the_dead_journal_and_still_opens_the_index(
    rec_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL unreachable while catching up: the index opens anyway (ingest goes on), the
    error says what to do, and the dead journal stays for the next process."""
    import asyncio

    import msgspec

    from appliance.db.engine import Database, make_async_engine
    from appliance.recognition.runtime import RecognitionRuntime
    from appliance.vectors.journal import SyncJournal

    data_dir = tmp_path / "data"
    dead = SyncJournal(data_dir / "index-sync")
    dead.start()
    assert dead._fd is not None
    os.close(dead._fd)  # its process "dies"
    dead._fd = None
    settings = msgspec.structs.replace(rec_settings, data_dir=str(data_dir), milvus_lite_sidecar=False)
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"

    async def scenario() -> None:
        db = Database(make_async_engine(unreachable, 1))
        runtime = RecognitionRuntime(settings, db)
        try:
            await runtime.vectors()
        finally:
            await runtime.close()
            await db.dispose()

    asyncio.run(scenario())
    assert "vector index catch-up failed; run `appliance reindex`" in caplog.text
    [claimed] = SyncJournal(data_dir / "index-sync").dead_journals()
    assert claimed.lock_path == dead.lock_path
    claimed.release(caught_up=True)
