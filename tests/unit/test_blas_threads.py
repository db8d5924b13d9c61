"""The appliance's processes run numpy with one BLAS thread unless the operator sets another count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Imports the package before numpy (as `python -m appliance` does), multiplies, counts threads.
PROBE = (
    "import os, appliance, numpy; numpy.ones((64, 64)) @ numpy.ones((64, 64));"
    " print(len(os.listdir('/proc/self/task')))"
)


def run_probe(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return int(result.stdout)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc")
def test_importing_the_package_first_keeps_numpy_on_one_thread() -> None:
    assert run_probe() == 1


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2, reason="needs /proc and 2+ cores"
)
def test_an_operator_set_thread_count_is_kept() -> None:
    assert run_probe(OPENBLAS_NUM_THREADS="2") == 2
