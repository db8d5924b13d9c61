"""A real Milvus server, started once per test session."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.integration.vectors.milvus_server import MilvusTestServer, kill_orphans

MILVUS_URI: list[str] = []
"""The running server's URI, for helpers that are not fixtures."""


@pytest.fixture(scope="session")
def milvus_uri() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a fresh standalone Milvus (PyPI package ``milvus``)."""
    if importlib.util.find_spec("milvus") is None:
        message = "the PyPI package `milvus` (a standalone Milvus server) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message + ": CI must run the Milvus tests", pytrace=False)
        pytest.skip(message)
    kill_orphans()
    server = MilvusTestServer(start_timeout=float(os.environ.get("MILVUS_START_TIMEOUT", "120")))
    try:
        MILVUS_URI[:] = [server.start()]
        yield MILVUS_URI[0]
    finally:
        server.stop()
