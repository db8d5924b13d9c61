"""LocalObjectStore on disk and through the real ObjectController routes (a Litestar app with
the production guard and problem handlers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.domain.auth.guards import authorize
from appliance.server.app import create_app
from appliance.server.problems import EXCEPTION_HANDLERS
from appliance.storage.base import DERIVED_BUCKET, RAW_BUCKET, InvalidKeyError, ObjectNotFoundError
from appliance.storage.controllers import MAX_UPLOAD_BYTES, ObjectController
from appliance.storage.factory import object_store_from_settings
from appliance.storage.local import LocalObjectStore, SignatureError

BASE_URL = "http://testserver.local"
PROBLEM_JSON = "application/problem+json"
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg body " * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"png body " * 100


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects", BASE_URL + "/", b"k" * 32, clock=clock)
    store.ensure_buckets(30)
    return store


@pytest.fixture
def client(store: LocalObjectStore) -> Iterator[TestClient[Litestar]]:
    app = Litestar(
        route_handlers=[ObjectController],
        guards=[authorize],  # deny-by-default: only opt={"public": True} lets these through
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies={"object_store": Provide(lambda: store, sync_to_thread=False)},
    )
    with TestClient(app=app, base_url=BASE_URL) as test_client:
        yield test_client


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# -- the store on disk ------------------------------------------------------------------------


def test_put_get_exists_list_delete_on_disk(store: LocalObjectStore, tmp_path: Path) -> None:
    assert (tmp_path / "objects" / RAW_BUCKET).is_dir()
    assert (tmp_path / "objects" / DERIVED_BUCKET).is_dir()
    assert store.raw_expiration_days() is None  # no lifecycle here: `appliance purge` expires

    store.put(RAW_BUCKET, "t1/s1/a.jpg", JPEG)
    store.put(RAW_BUCKET, "t1/s1/b.png", PNG, content_type="image/png")
    store.put(RAW_BUCKET, "t2/c.jpg", b"c")
    assert (tmp_path / "objects" / RAW_BUCKET / "t1" / "s1" / "a.jpg").read_bytes() == JPEG
    assert store.get(RAW_BUCKET, "t1/s1/a.jpg") == JPEG
    assert store.content_type(RAW_BUCKET, "t1/s1/b.png") == "image/png"
    assert store.exists(RAW_BUCKET, "t1/s1/a.jpg")
    assert not store.exists(DERIVED_BUCKET, "t1/s1/a.jpg")
    assert not store.exists(RAW_BUCKET, "t1/s1")  # a directory is not an object

    assert [i.key for i in store.list(RAW_BUCKET, prefix="t1/")] == ["t1/s1/a.jpg", "t1/s1/b.png"]
    assert {i.key: i.size for i in store.list(RAW_BUCKET)} == {
        "t1/s1/a.jpg": len(JPEG),
        "t1/s1/b.png": len(PNG),
        "t2/c.jpg": 1,
    }
    assert all(i.last_modified.tzinfo is not None for i in store.list(RAW_BUCKET))

    store.delete(RAW_BUCKET, "t2/c.jpg")
    store.delete(RAW_BUCKET, "t2/c.jpg")  # idempotent
    assert not (tmp_path / "objects" / RAW_BUCKET / "t2").exists()  # empty directories pruned
    with pytest.raises(ObjectNotFoundError):
        store.get(RAW_BUCKET, "t2/c.jpg")
    assert list(store.list(RAW_BUCKET, prefix="t2/")) == []


@pytest.mark.parametrize("key", ["../x.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", "a b.jpg", "x" * 513])
def test_unsafe_keys_never_touch_the_disk(store: LocalObjectStore, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.put(RAW_BUCKET, key, b"x")
    with pytest.raises(InvalidKeyError):
        store.presign_put(RAW_BUCKET, key, timedelta(minutes=1))
    with pytest.raises(InvalidKeyError, match="unknown bucket"):
        store.put("../faces-raw", "a.jpg", b"x")


# -- presigned URLs through the HTTP routes -----------------------------------------------------


def test_presigned_put_then_get_round_trip(store: LocalObjectStore, client: TestClient[Litestar]) -> None:
    key = "t1/s1/2026/01/02/event-1.png"
    url = store.presign_put(RAW_BUCKET, key, timedelta(minutes=15))
    assert url.startswith(f"{BASE_URL}/v1/objects/{RAW_BUCKET}/{key}?expires=")
    response = client.put(url, content=PNG, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.headers["etag"]
    assert store.get(RAW_BUCKET, key) == PNG

    response = client.get(store.presign_get(RAW_BUCKET, key, timedelta(minutes=15)))
    assert response.status_code == 200, response.text
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_bad_signatures_are_403(store: LocalObjectStore, client: TestClient[Litestar], clock: Clock) -> None:
    key = "t1/a.jpg"
    store.put(RAW_BUCKET, key, JPEG)
    good = store.presign_get(RAW_BUCKET, key, timedelta(minutes=5))
    path = good.removeprefix(BASE_URL)
    assert client.get(path).status_code == 200

    signature = path.rsplit("=", 1)[1]
    tampered = path[: -len(signature)] + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert "signature" in problem(client.get(tampered), 403)["detail"]
    # Longer expiry, other key, other method, nothing at all: all refused.
    expires = path.split("expires=")[1].split("&")[0]
    problem(client.get(path.replace(f"expires={expires}", f"expires={int(expires) + 3600}")), 403)
    problem(client.get(path.replace("t1/a.jpg", "t1/b.jpg")), 403)
    problem(client.put(path, content=JPEG, headers={"Content-Type": "image/jpeg"}), 403)
    problem(client.get(f"/v1/objects/{RAW_BUCKET}/{key}"), 403)
    problem(client.get(f"/v1/objects/{RAW_BUCKET}/{key}?expires=soon&signature=abc"), 403)

    clock.now += 5 * 60 + 1
    assert "expired" in problem(client.get(path), 403)["detail"]
    put_url = store.presign_put(RAW_BUCKET, "t1/late.jpg", timedelta(seconds=10))
    clock.now += 11
    problem(client.put(put_url, content=JPEG, headers={"Content-Type": "image/jpeg"}), 403)
    assert not store.exists(RAW_BUCKET, "t1/late.jpg")


def test_upload_rules_415_413_404(store: LocalObjectStore, client: TestClient[Litestar]) -> None:
    url = store.presign_put(RAW_BUCKET, "t1/x.jpg", timedelta(minutes=5))
    problem(client.put(url, content=b"<svg/>", headers={"Content-Type": "image/svg+xml"}), 415)
    problem(client.put(url, content=JPEG), 415)
    big = b"\xff" * (MAX_UPLOAD_BYTES + 1)
    problem(client.put(url, content=big, headers={"Content-Type": "image/jpeg"}), 413)
    assert not store.exists(RAW_BUCKET, "t1/x.jpg")
    exact = b"\xff" * MAX_UPLOAD_BYTES
    response = client.put(url, content=exact, headers={"Content-Type": "image/jpeg; charset=binary"})
    assert response.status_code == 200, response.text
    assert len(store.get(RAW_BUCKET, "t1/x.jpg")) == MAX_UPLOAD_BYTES

    missing = store.presign_get(RAW_BUCKET, "t1/never-uploaded.jpg", timedelta(minutes=5))
    problem(client.get(missing), 404)
    store.put(RAW_BUCKET, "t1/gone.jpg", JPEG)
    gone = store.presign_get(RAW_BUCKET, "t1/gone.jpg", timedelta(minutes=5))
    store.delete(RAW_BUCKET, "t1/gone.jpg")
    problem(client.get(gone), 404)


def test_verify_is_bound_to_method_bucket_key_and_expiry(store: LocalObjectStore) -> None:
    url = store.presign_put(DERIVED_BUCKET, "staff/1.jpg", timedelta(minutes=1))
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    store.verify("PUT", DERIVED_BUCKET, "staff/1.jpg", query["expires"], query["signature"])
    for method, bucket, key in (
        ("GET", DERIVED_BUCKET, "staff/1.jpg"),
        ("PUT", RAW_BUCKET, "staff/1.jpg"),
        ("PUT", DERIVED_BUCKET, "staff/2.jpg"),
    ):
        with pytest.raises(SignatureError):
            store.verify(method, bucket, key, query["expires"], query["signature"])


# -- inside the full application ----------------------------------------------------------------


def test_the_full_app_serves_presigned_local_urls(pg_settings: Settings) -> None:
    """With ObjectController in the real app (guard, middleware, lifespan services), a URL
    presigned by the store the factory builds from the settings round-trips."""
    app = create_app(pg_settings)
    if not any(route.path.startswith("/v1/objects") for route in app.routes):
        app.register(ObjectController)  # until server/routes.py lists it
    store = object_store_from_settings(pg_settings)
    assert isinstance(store, LocalObjectStore)
    with TestClient(app=app, base_url=pg_settings.base_url) as client:
        url = store.presign_put(RAW_BUCKET, "full-app/a.jpg", timedelta(minutes=1))
        response = client.put(url, content=JPEG, headers={"Content-Type": "image/jpeg"})
        assert response.status_code == 200, response.text
        response = client.get(store.presign_get(RAW_BUCKET, "full-app/a.jpg", timedelta(minutes=1)))
        assert response.status_code == 200, response.text
        assert response.content == JPEG and response.headers["content-type"] == "image/jpeg"
        tampered = url.replace("signature=", "signature=0")
        response = client.put(tampered, content=JPEG, headers={"Content-Type": "image/jpeg"})
        assert response.status_code == 403
        assert response.json()["request_id"] == response.headers["x-request-id"]
    store.delete(RAW_BUCKET, "full-app/a.jpg")
