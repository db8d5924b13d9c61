"""S3ObjectStore against a real S3 server (SeaweedFS), checked with the minio client directly."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from minio.error import S3Error

from appliance.config import load_settings
from appliance.storage.base import (
    DERIVED_BUCKET,
    RAW_BUCKET,
    InvalidKeyError,
    ObjectNotFoundError,
    ObjectStoreError,
)
from appliance.storage.factory import object_store_from_settings
from appliance.storage.local import LocalObjectStore
from appliance.storage.s3 import RAW_EXPIRY_RULE_ID, S3ObjectStore
from tests.integration.storage.conftest import ACCESS_KEY, SECRET_KEY, WeedServer, make_store, s3_env

JPEG = b"\xff\xd8\xff\xe0" + b"fake jpeg body " * 64


def test_buckets_exist_with_the_lifecycle_rule_read_back(s3: S3ObjectStore) -> None:
    s3.ensure_buckets(30)  # idempotent on existing buckets
    for bucket in (RAW_BUCKET, DERIVED_BUCKET):
        assert s3.client.bucket_exists(bucket)
    config = s3.client.get_bucket_lifecycle(RAW_BUCKET)
    assert config is not None
    [rule] = config.rules
    assert rule.rule_id == RAW_EXPIRY_RULE_ID
    assert rule.status == "Enabled"
    assert rule.expiration is not None and rule.expiration.days == 30
    assert s3.raw_expiration_days() == 30
    assert s3.client.get_bucket_lifecycle(DERIVED_BUCKET) is None  # derived artefacts never expire

    s3.ensure_buckets(7)
    assert s3.raw_expiration_days() == 7
    s3.ensure_buckets(30)
    assert s3.raw_expiration_days() == 30

    with pytest.raises(ObjectStoreError, match="at least 1"):
        s3.ensure_buckets(0)


def test_put_get_exists_list_delete(s3: S3ObjectStore) -> None:
    s3.put(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg", JPEG)
    s3.put(RAW_BUCKET, "t1/s1/2026/01/02/b.png", b"png", content_type="image/png")
    s3.put(RAW_BUCKET, "t2/other.jpg", b"x")

    assert s3.get(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg") == JPEG
    assert s3.client.stat_object(RAW_BUCKET, "t1/s1/2026/01/02/b.png").content_type == "image/png"
    assert s3.exists(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg")
    assert not s3.exists(RAW_BUCKET, "t1/s1/2026/01/02/zzz.jpg")
    assert not s3.exists(DERIVED_BUCKET, "t1/s1/2026/01/02/a.jpg")

    listed = {info.key: info for info in s3.list(RAW_BUCKET, prefix="t1/")}
    assert sorted(listed) == ["t1/s1/2026/01/02/a.jpg", "t1/s1/2026/01/02/b.png"]
    info = listed["t1/s1/2026/01/02/a.jpg"]
    assert info.size == len(JPEG)
    assert info.last_modified.tzinfo is not None
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert len(list(s3.list(RAW_BUCKET))) == 3

    s3.delete(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg")
    s3.delete(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg")  # deleting a missing object is fine
    with pytest.raises(S3Error) as raised:
        s3.client.stat_object(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg")
    assert raised.value.code == "NoSuchKey"
    assert not s3.exists(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg")
    with pytest.raises(ObjectNotFoundError, match=r"faces-raw/t1/s1/2026/01/02/a\.jpg"):
        s3.get(RAW_BUCKET, "t1/s1/2026/01/02/a.jpg")
    assert [i.key for i in s3.list(RAW_BUCKET, prefix="t1/")] == ["t1/s1/2026/01/02/b.png"]


def test_presigned_put_uploads_and_presigned_get_downloads(s3: S3ObjectStore) -> None:
    key = "t1/s1/2026/01/02/event-1.jpg"
    put_url = s3.presign_put(RAW_BUCKET, key, timedelta(minutes=5))
    assert put_url.startswith(f"http://{s3.endpoint}/{RAW_BUCKET}/{key}?")
    response = httpx.put(put_url, content=JPEG, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text
    assert s3.get(RAW_BUCKET, key) == JPEG

    get_url = s3.presign_get(RAW_BUCKET, key, timedelta(minutes=5))
    response = httpx.get(get_url)
    assert response.status_code == 200, response.text
    assert response.content == JPEG

    # The signature binds the key: the same URL cannot fetch another object.
    s3.put(RAW_BUCKET, "t1/s1/2026/01/02/event-2.jpg", b"other")
    response = httpx.get(get_url.replace("event-1", "event-2"))
    assert response.status_code == 403


def test_presigned_urls_name_the_public_endpoint_and_work_there(weed: WeedServer, s3: S3ObjectStore) -> None:
    # The API reaches the server as 127.0.0.1; clients reach it as localhost (another Host).
    port = weed.endpoint.rsplit(":", 1)[1]
    public = S3ObjectStore(
        weed.endpoint, ACCESS_KEY, SECRET_KEY, public_endpoint=f"http://localhost:{port}", region="us-east-1"
    )
    assert public.public_endpoint == f"localhost:{port}"
    key = "t1/s1/2026/01/02/public.jpg"
    put_url = public.presign_put(RAW_BUCKET, key, timedelta(minutes=5))
    assert put_url.startswith(f"http://localhost:{port}/{RAW_BUCKET}/{key}?")
    assert httpx.put(put_url, content=JPEG, headers={"Content-Type": "image/jpeg"}).status_code == 200
    assert s3.get(RAW_BUCKET, key) == JPEG  # stored where the API reads it
    get_url = public.presign_get(RAW_BUCKET, key, timedelta(minutes=5))
    assert get_url.startswith(f"http://localhost:{port}/")
    assert httpx.get(get_url).content == JPEG
    # The signature covers the host: the same URL sent to the internal address is refused.
    assert httpx.get(get_url.replace("localhost", "127.0.0.1", 1)).status_code == 403
    # Signing asks nothing of the public address: one that does not resolve still signs.
    offline = S3ObjectStore(weed.endpoint, ACCESS_KEY, SECRET_KEY, public_endpoint="files.invalid:9000")
    assert offline.presign_get(RAW_BUCKET, key, timedelta(minutes=1)).startswith("http://files.invalid:9000/")


def test_presigned_get_expires(s3: S3ObjectStore) -> None:
    s3.put(RAW_BUCKET, "t1/short.jpg", JPEG)
    url = s3.presign_get(RAW_BUCKET, "t1/short.jpg", timedelta(seconds=1))
    time.sleep(2.1)
    assert httpx.get(url).status_code == 403


def test_errors_are_clear_object_store_errors(weed: WeedServer, s3: S3ObjectStore) -> None:
    wrong = make_store(weed, secret_key="not-the-secret-key-at-all")
    with pytest.raises(
        ObjectStoreError, match=rf"object store {weed.endpoint}: put faces-raw/k\.jpg failed: "
    ):
        wrong.put(RAW_BUCKET, "k.jpg", b"x")

    with pytest.raises(InvalidKeyError, match="must not contain"):
        s3.put(RAW_BUCKET, "t1/../escape.jpg", b"x")
    with pytest.raises(ObjectStoreError, match="7 days"):
        s3.presign_get(RAW_BUCKET, "t1/a.jpg", timedelta(days=8))

    # Nothing listens on a port we just closed: a fast, named failure, not a five-minute hang.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = S3ObjectStore(f"127.0.0.1:{port}", "a", "b", region="us-east-1")
    started = time.monotonic()
    with pytest.raises(ObjectStoreError, match=rf"object store 127\.0\.0\.1:{port}: stat faces-raw/k\.jpg"):
        down.exists(RAW_BUCKET, "k.jpg")
    assert time.monotonic() - started < 10

    with pytest.raises(ObjectStoreError, match="host:port"):
        S3ObjectStore("ftp://example/x", "a", "b")


def test_factory_picks_s3_when_an_endpoint_is_set(weed: WeedServer, tmp_path: Path) -> None:
    store = object_store_from_settings(load_settings(env=s3_env(weed), data_dir=str(tmp_path)))
    assert isinstance(store, S3ObjectStore)
    assert store.endpoint == weed.endpoint
    assert store.public_endpoint is None
    assert store.raw_expiration_days() == 30
    public = load_settings(
        env={**s3_env(weed), "APPLIANCE_S3_PUBLIC_ENDPOINT": "https://files.example"}, data_dir=str(tmp_path)
    )
    signed = object_store_from_settings(public).presign_get(RAW_BUCKET, "t/a.jpg", timedelta(minutes=1))
    assert signed.startswith("https://files.example/faces-raw/t/a.jpg?")

    missing = load_settings(env={"APPLIANCE_S3_ENDPOINT": weed.endpoint}, data_dir=str(tmp_path))
    with pytest.raises(ObjectStoreError, match="APPLIANCE_S3_ACCESS_KEY"):
        object_store_from_settings(missing)


def test_factory_falls_back_to_a_local_store_with_a_persistent_key(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path), public_url="https://box.example/")
    store = object_store_from_settings(settings)
    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "objects"
    assert store.base_url == "https://box.example"
    key_file = tmp_path / "keys" / "object_signing.key"
    assert len(key_file.read_bytes()) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    url = store.presign_get(RAW_BUCKET, "t/a.jpg", timedelta(minutes=1))
    # A second store (another process, a restart) reuses the key: the first one's URLs verify.
    again = object_store_from_settings(settings)
    assert isinstance(again, LocalObjectStore)
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    again.verify("GET", RAW_BUCKET, "t/a.jpg", query["expires"], query["signature"])
