"""A backing service that fails is a 503 the client may retry, not a 500; the cause is logged."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.exceptions import TooManyRequestsException
from litestar.testing import TestClient

from appliance.server.problems import EXCEPTION_HANDLERS
from appliance.storage.base import ObjectNotFoundError, ObjectStoreError
from appliance.vectors.base import VectorIndexError


class FakeMilvusException(Exception):
    """Stands for pymilvus's exceptions, recognised by their module."""


FakeMilvusException.__module__ = "pymilvus.exceptions"

FAILURES: dict[str, Exception] = {
    "store": ObjectStoreError("object store minio:9000: put faces-raw/a.jpg failed: AccessDenied"),
    "index": VectorIndexError("cannot connect to Milvus at http://milvus:19530 (data/milvus)"),
    "milvus": FakeMilvusException("<MilvusException: (code=2, message=Fail connecting to server)>"),
    "missing": ObjectNotFoundError("object store minio:9000: get faces-raw/a.jpg failed: no such object"),
    "bug": RuntimeError("a bug of ours"),
}


@get("/fail/{kind:str}", opt={"public": True})
async def fail(kind: str) -> None:
    raise FAILURES[kind]


@pytest.fixture
def client() -> TestClient[Litestar]:
    return TestClient(app=Litestar(route_handlers=[fail], exception_handlers=EXCEPTION_HANDLERS))


@pytest.mark.parametrize(
    ("kind", "service"), [("store", "object store"), ("index", "vector index"), ("milvus", "vector index")]
)
def test_a_failing_backing_service_is_a_503_to_retry(
    client: TestClient[Litestar], caplog: pytest.LogCaptureFixture, kind: str, service: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="appliance.errors"), client:
        response = client.get(f"/fail/{kind}")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["status"] == 503 and body["detail"] == f"the {service} is unavailable; try again shortly"
    assert "minio" not in response.text and "data/milvus" not in response.text  # internals stay in the log
    assert str(FAILURES[kind]) in caplog.text


def test_a_missing_object_is_404_and_a_bug_stays_a_500(client: TestClient[Litestar]) -> None:
    with client:
        missing = client.get("/fail/missing")
        bug = client.get("/fail/bug")
    assert missing.status_code == 404 and missing.json()["detail"] == "the stored object does not exist"
    assert bug.status_code == 500 and bug.json()["detail"] == "an unexpected error occurred"
    assert "retry-after" not in bug.headers


@get("/limited", opt={"public": True})
async def limited(reset: str | None = None) -> None:
    raise TooManyRequestsException(headers={"RateLimit-Reset": reset} if reset is not None else None)


@pytest.mark.parametrize(("reset", "retry_after"), [("37", "37"), ("0", "1"), (None, "1")])
def test_a_429_is_a_problem_with_retry_after(reset: str | None, retry_after: str) -> None:
    app = Litestar(route_handlers=[limited], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app=app) as test_client:
        response = test_client.get("/limited", params={"reset": reset} if reset is not None else None)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == retry_after
    body = response.json()
    assert body["title"] == "Too many requests" and body["type"] == "about:blank"
    assert body["detail"] == f"rate limit exceeded; retry in {retry_after} s"


def test_a_rate_limit_of_zero_switches_that_group_off() -> None:
    from appliance.server.middleware import rate_limit_configs

    both = rate_limit_configs(60, 50, ())
    assert [config.rate_limit for config in both] == [("minute", 60), ("second", 50)]
    [ingest_only] = rate_limit_configs(0, 50, ())
    assert ingest_only.rate_limit == ("second", 50)
    assert rate_limit_configs(0, 0, ()) == []
