"""lib/heap.py: what start-up made leaves the collector's full passes, only in server processes."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from appliance.lib import heap


@pytest.fixture
def enabled() -> Iterator[None]:
    heap.enable()
    yield
    heap.enable(False)
    gc.unfreeze()


def test_it_does_nothing_unless_the_process_asked_for_it() -> None:
    before = gc.get_freeze_count()
    assert heap.freeze_long_lived("a test") == before == gc.get_freeze_count()


def test_live_objects_are_frozen_and_garbage_is_collected_first(enabled: None) -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the cyclic collector frees it

    kept = Node()
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    frozen = heap.freeze_long_lived("a test")
    assert frozen > 0 and gc.get_freeze_count() > 0  # (frozen objects still die by refcount)
    assert gone() is None  # collected before the freeze, not frozen
    assert all(kept is not o for generation in range(3) for o in gc.get_objects(generation=generation))


def test_the_asgi_module_enables_it_and_start_up_freezes() -> None:
    probe = (
        "import gc; from litestar.testing import TestClient\n"
        "from appliance.server.asgi import create\n"
        "with TestClient(create()) as client:\n"
        "    print(gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(out.stdout.strip().splitlines()[-1]) > 10_000
