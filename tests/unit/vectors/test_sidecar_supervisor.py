"""The supervisor's policy on its own: restart what is not running, pause longer after each
failed restart, survive its own errors. A scripted stand-in plays the sidecar (the real restart,
with a killed process, is in tests/integration/vectors/test_lite_server.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from appliance.vectors.lite_server import SidecarError, SidecarSupervisor


class ScriptedSidecar:
    """Down until ``restart`` has been called ``fail_first + 1`` times; records the calls."""

    startup_timeout = 1.0

    def __init__(self, fail_first: int, broken_log: bool = False) -> None:
        self.fail_first = fail_first
        self.broken_log = broken_log
        self.up = False
        self.attempts: list[float] = []

    def running(self) -> bool:
        return self.up

    def exit_code(self) -> int | None:
        return None if self.up else -9

    def log_tail(self, lines: int = 25) -> str:
        if self.broken_log:
            self.broken_log = False
            raise UnicodeError("a log the supervisor cannot read")
        return "(log)"

    def restart(self) -> None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.fail_first:
            raise SidecarError("port taken")
        self.up = True


def run_until(supervisor: SidecarSupervisor, done: Callable[[], bool], timeout: float = 10.0) -> None:
    supervisor.start()
    deadline = time.monotonic() + timeout
    try:
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        supervisor.stop()


def test_failed_restarts_are_retried_with_growing_pauses() -> None:
    sidecar = ScriptedSidecar(fail_first=3)
    supervisor = SidecarSupervisor(sidecar, interval=0.02, max_pause=0.1)  # type: ignore[arg-type]
    run_until(supervisor, lambda: sidecar.up)
    assert sidecar.up and supervisor.restarts == 1
    assert len(sidecar.attempts) == 4
    gaps = [b - a for a, b in zip(sidecar.attempts, sidecar.attempts[1:], strict=False)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.08 and gaps[2] >= 0.1  # doubled, then capped
    assert max(gaps) < 1.0


def test_the_supervisor_survives_its_own_errors() -> None:
    sidecar = ScriptedSidecar(fail_first=0, broken_log=True)
    supervisor = SidecarSupervisor(sidecar, interval=0.02, max_pause=0.05)  # type: ignore[arg-type]
    run_until(supervisor, lambda: sidecar.up)
    assert sidecar.up and supervisor.restarts == 1


def test_a_running_sidecar_is_left_alone() -> None:
    sidecar = ScriptedSidecar(fail_first=0)
    sidecar.up = True
    supervisor = SidecarSupervisor(sidecar, interval=0.01)  # type: ignore[arg-type]
    supervisor.start()
    time.sleep(0.1)
    supervisor.stop()
    assert sidecar.attempts == [] and supervisor.restarts == 0
