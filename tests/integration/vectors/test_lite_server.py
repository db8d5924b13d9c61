"""The Milvus Lite sidecar (appliance.vectors.lite_server): real processes on tmp data dirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymilvus import MilvusClient

from appliance.config import load_settings
from appliance.vectors import lite_server
from appliance.vectors.base import VectorItem
from appliance.vectors.factory import milvus_uri_from_settings
from appliance.vectors.lite_server import (
    LiteSidecar,
    SidecarError,
    SidecarInfo,
    SidecarSupervisor,
    discovery_path,
    find_sidecar,
    free_port,
    lite_data_dir,
    pid_alive,
    read_discovery,
)
from appliance.vectors.milvus import MilvusIndex, lite_auto_flush_rows, partition_name

DIM = 128


def unit_vectors(seed: int, n: int) -> list[list[float]]:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    result: list[list[float]] = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()
    return result


def items_for(vectors: list[list[float]]) -> list[VectorItem]:
    return [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=v) for v in vectors]


def wait_until_dead(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def sidecar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sidecar_data")


@pytest.fixture(scope="module")
def sidecar(sidecar_dir: Path) -> Iterator[LiteSidecar]:
    with LiteSidecar(sidecar_dir) as running:
        yield running


def test_the_discovery_file_names_the_live_sidecar(sidecar: LiteSidecar, sidecar_dir: Path) -> None:
    info = read_discovery(discovery_path(sidecar_dir))
    assert info is not None and info == sidecar.info
    assert info.pid == sidecar.pid and pid_alive(info.pid)
    assert info.uri == f"http://127.0.0.1:{info.port}"
    assert Path(info.data_dir) == lite_data_dir(sidecar_dir).resolve()
    assert find_sidecar(sidecar_dir) == info
    # CLI commands beside a running serve use it; an explicit URI still wins.
    assert milvus_uri_from_settings(load_settings(env={}, data_dir=str(sidecar_dir))) == info.uri
    explicit = load_settings(env={}, data_dir=str(sidecar_dir), milvus_uri="http://milvus:19530")
    assert milvus_uri_from_settings(explicit) == "http://milvus:19530"


def test_the_sidecar_runs_its_patches_and_one_faiss_thread(sidecar: LiteSidecar) -> None:
    assert sidecar.pid is not None
    environ = Path(f"/proc/{sidecar.pid}/environ").read_bytes().split(b"\0")
    assert f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}".encode() in environ
    started = next(
        json.loads(line)
        for line in sidecar.log_path.read_text().splitlines()
        if '"milvus lite sidecar starting"' in line
    )
    patches = ("fastpath", *lite_server._PATCHES)
    assert {name: started.get(name) for name in patches} == dict.fromkeys(patches, True)


def test_an_index_behind_http_recognises_lite(sidecar: LiteSidecar) -> None:
    index = MilvusIndex(sidecar.uri, DIM, collection="probe")
    try:
        assert index.is_lite
        assert index.auto_flush_rows == lite_auto_flush_rows(DIM)
    finally:
        index.close()
    assert sidecar.running()  # closing a client leaves the sidecar alone


CLIENT = """
import json, sys, uuid
from appliance.vectors.base import VectorItem
from appliance.vectors.milvus import MilvusIndex
uri, tenant = sys.argv[1], uuid.UUID(sys.argv[2])
batches = json.loads(sys.stdin.readline())
index = MilvusIndex(uri, len(batches["theirs"][0]), collection="shared")
index.ensure_collection()
found = [str(hits[0].id) if hits else None for hits in index.search(tenant, batches["theirs"], top_k=1)]
print(json.dumps({"is_lite": index.is_lite, "found": found}), flush=True)
ids = []
for chunk in batches["mine"]:  # written while the other process writes too
    items = [VectorItem(uuid.uuid4(), uuid.uuid4(), v) for v in chunk]
    index.upsert(tenant, items)
    index.flush()
    ids += [str(item.id) for item in items]
print(json.dumps({"ids": ids, "count": index.count(tenant)}), flush=True)
index.close()
"""


def test_two_processes_share_a_partition(sidecar: LiteSidecar) -> None:
    tenant = uuid.uuid4()
    index = MilvusIndex(sidecar.uri, DIM, collection="shared")
    index.ensure_collection()
    try:
        ours = items_for(unit_vectors(1, 40))
        index.upsert(tenant, ours)
        index.flush()
        theirs = unit_vectors(2, 100)
        chunks = [theirs[i : i + 10] for i in range(0, 100, 10)]
        child = subprocess.Popen(
            [sys.executable, "-c", CLIENT, sidecar.uri, str(tenant)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps({"theirs": [item.vector for item in ours], "mine": chunks}) + "\n")
        child.stdin.close()
        first = json.loads(child.stdout.readline())
        assert first["is_lite"]
        assert first["found"] == [str(item.id) for item in ours]  # it sees our rows

        more = items_for(unit_vectors(3, 100))
        for start in range(0, 100, 10):  # concurrent writers: the sidecar serialises them
            index.upsert(tenant, more[start : start + 10])
            index.flush()
        second = json.loads(child.stdout.readline())
        assert child.wait(timeout=60) == 0

        hits = index.search(tenant, theirs, top_k=1)  # we see its rows
        assert [str(h[0].id) for h in hits] == second["ids"]
        assert index.count(tenant) == 240
        assert second["count"] >= 140  # its own and ours before it (ours may still be arriving)
    finally:
        index.close()


def test_partitions_are_created_and_dropped_without_partition_load_calls(sidecar: LiteSidecar) -> None:
    index = MilvusIndex(sidecar.uri, DIM, collection="partitions")
    index.ensure_collection()
    other = MilvusIndex(sidecar.uri, DIM, collection="partitions")
    tenant = uuid.uuid4()
    try:
        index.ensure_partition(tenant)
        index.ensure_partition(tenant)  # idempotent
        assert tenant in other.tenant_partitions()
        items = items_for(unit_vectors(4, 3))
        index.upsert(tenant, items)
        assert other.count(tenant) == 3
        index.drop_partition(tenant)
        assert tenant not in other.tenant_partitions()
        assert other.count(tenant) == 0
        assert other.search(tenant, [items[0].vector]) == [[]]
        # What MilvusIndex would call on a server: Lite does not implement it.
        index.ensure_partition(tenant)
        client = MilvusClient(uri=sidecar.uri)
        try:
            # (pymilvus lets gRPC's UNIMPLEMENTED error through as it is)
            with pytest.raises(Exception, match="partition-level load is not supported"):
                client.load_partitions("partitions", [partition_name(tenant)])
        finally:
            client.close()
    finally:
        other.close()
        index.close()


def test_a_second_sidecar_on_the_data_dir_is_refused(sidecar: LiteSidecar, sidecar_dir: Path) -> None:
    with pytest.raises(SidecarError, match="already serves"):
        LiteSidecar(sidecar_dir).start()
    assert sidecar.running()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_stale_discovery_file_is_replaced_and_stop_removes_it(tmp_path: Path) -> None:
    path = discovery_path(tmp_path)
    path.parent.mkdir(parents=True)
    port = free_port()
    stale = SidecarInfo(
        pid=dead_pid(),
        port=port,
        uri=f"http://127.0.0.1:{port}",
        data_dir=str(lite_data_dir(tmp_path).resolve()),
    )
    path.write_text(
        json.dumps({"pid": stale.pid, "port": port, "uri": stale.uri, "data_dir": stale.data_dir})
    )
    assert find_sidecar(tmp_path) is None

    sidecar = LiteSidecar(tmp_path)
    info = sidecar.start()
    try:
        assert info.pid != stale.pid
        assert read_discovery(path) == info
        assert find_sidecar(tmp_path) == info
    finally:
        sidecar.stop()
    assert not path.exists()
    assert not pid_alive(info.pid)
    assert not sidecar.running()
    log = (tmp_path / "milvus" / "sidecar.log").read_text()
    assert "milvus lite sidecar stopped cleanly" in log  # SIGTERM: Lite closed itself
    assert '"fastpath": ' in log  # whether the vectorised search was installed is logged
    assert '"compaction_off_search_lock": true' in log  # merges no longer stop searches


def test_a_sidecar_that_dies_is_restarted_on_its_address_with_its_data(tmp_path: Path) -> None:
    sidecar = LiteSidecar(tmp_path)
    info = sidecar.start()
    supervisor = SidecarSupervisor(sidecar, interval=0.1)
    supervisor.start()
    index = MilvusIndex(info.uri, DIM, collection="survives")
    try:
        index.ensure_collection()
        tenant = uuid.uuid4()
        vectors = unit_vectors(7, 20)
        items = [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=v) for v in vectors]
        index.upsert(tenant, items[:15])
        index.flush()
        index.upsert(tenant, items[15:])  # acknowledged, in Lite's write-ahead log only

        os.kill(info.pid, signal.SIGKILL)  # a crash: no clean close
        deadline = time.monotonic() + 30
        while supervisor.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert supervisor.restarts == 1
        assert sidecar.info is not None and sidecar.info.uri == info.uri and sidecar.info.pid != info.pid
        assert read_discovery(discovery_path(tmp_path)) == sidecar.info

        # The same client reconnects and loads the released collection by itself, and every
        # acknowledged vector is still there.
        hits = index.search(tenant, [vectors[3]], top_k=1)
        assert hits[0][0].id == items[3].id
        assert index.count(tenant) == len(items)
        index.upsert(tenant, [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=vectors[0])])
    finally:
        index.close()
        supervisor.stop()
        sidecar.stop()
    assert not sidecar.running()
    assert (tmp_path / "milvus" / "sidecar.log.1").exists()  # the crashed run's log is kept


PARENT = """
import sys
from appliance.vectors.lite_server import LiteSidecar
info = LiteSidecar(sys.argv[1]).start()
print(info.pid, flush=True)
sys.stdin.read()
"""


def test_the_sidecar_dies_with_its_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = None
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        found = find_sidecar(tmp_path)
        assert found is not None and found.pid == pid
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        log = tmp_path / "milvus" / "sidecar.log"
        assert wait_until_dead(pid), "the sidecar outlived its parent:\n" + (
            log.read_text()[-4000:] if log.exists() else "(no log)"
        )
        assert not discovery_path(tmp_path).exists()  # it removed its file on the way out
        assert find_sidecar(tmp_path) is None
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_close_that_hangs_ends_in_a_hard_exit_with_every_threads_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from appliance.vectors import lite_server; lite_server._exit_hard()"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "exiting hard" in result.stderr and "in _exit_hard" in result.stderr  # the stacks


def test_the_entry_point_does_not_start_without_its_parent(tmp_path: Path) -> None:
    lite_dir = tmp_path / "vectors.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.vectors.lite_server",
            "--data-dir",
            str(lite_dir),
            "--port",
            str(free_port()),
            "--parent-pid",
            str(dead_pid()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "parent process is gone" in result.stderr
    assert not lite_dir.exists()  # it never opened Lite


def test_a_sidecar_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    holder = MilvusIndex(str(lite_data_dir(tmp_path)), 8)  # in-process Lite locks the data dir
    try:
        with pytest.raises(SidecarError, match="exited with code") as caught:
            LiteSidecar(tmp_path).start()
        message = str(caught.value)
        assert "another process has the Lite data dir open" in message
        assert "sidecar.log" in message and "DataDirLockedError" in message  # the log's last lines
        assert not discovery_path(tmp_path).exists()
    finally:
        holder.close()
