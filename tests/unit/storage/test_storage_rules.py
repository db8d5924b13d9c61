"""Pure rules of the storage layer: durations, object keys, signatures, the signing key file."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.jobs.purge_report import parse_duration
from appliance.storage.base import KEY_MAX_LENGTH, InvalidKeyError, ObjectStoreError, validate_key
from appliance.storage.local import LocalObjectStore, SignatureError, load_or_create_signing_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
        ("1m", timedelta(minutes=1)),
        ("365d", timedelta(days=365)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "30", "d", "30s", "1w", "-1d", "0d", "0m", "1.5d", "30 days", "1d2h", "99999999999d"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "key",
    [
        "a.jpg",
        "0f0e/6c1b/2026/01/02/3f2a-event.jpg",
        "staff/photo_1.PNG",
        ".hidden",
        "a.b.c",
        "x" * KEY_MAX_LENGTH,
    ],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("x" * (KEY_MAX_LENGTH + 1), "longer than 512"),
        ("/etc/passwd", "relative"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a..b", "'..'"),
        ("a//b", "empty or '.'"),
        ("a/./b", "empty or '.'"),
        ("a/", "empty or '.'"),
        (".", "empty or '.'"),
        ("a b", "may contain only"),
        ("a\\b", "may contain only"),
        ("a%2Fb", "may contain only"),
        ("ü.jpg", "may contain only"),
        ("a\x00b", "may contain only"),
        ("a?b", "may contain only"),
    ],
)
def test_invalid_keys(key: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=reason):
        validate_key(key)


def test_signature_covers_method_bucket_key_expiry(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = LocalObjectStore(tmp_path, "https://box.example", b"s" * 32, clock=lambda: now[0])
    url = store.presign_get("faces-raw", "t/a.jpg", timedelta(minutes=10))
    assert url.startswith("https://box.example/v1/objects/faces-raw/t/a.jpg?expires=1800000600&signature=")
    signature = url.rsplit("=", 1)[1]
    assert len(signature) == 64
    store.verify("GET", "faces-raw", "t/a.jpg", "1800000600", signature)
    store.verify("GET", "faces-raw", "t/a.jpg", "1800000600", signature.upper())  # hex is hex

    other_key = LocalObjectStore(tmp_path, "https://box.example", b"t" * 32, clock=lambda: now[0])
    for args in (
        ("PUT", "faces-raw", "t/a.jpg", "1800000600", signature),
        ("GET", "faces-derived", "t/a.jpg", "1800000600", signature),
        ("GET", "faces-raw", "t/b.jpg", "1800000600", signature),
        ("GET", "faces-raw", "t/a.jpg", "1800000601", signature),
        ("GET", "faces-raw", "t/a.jpg", None, signature),
        ("GET", "faces-raw", "t/a.jpg", "1800000600", None),
        ("GET", "faces-raw", "t/a.jpg", "tomorrow", signature),
    ):
        with pytest.raises(SignatureError):
            store.verify(*args)
    with pytest.raises(SignatureError):
        other_key.verify("GET", "faces-raw", "t/a.jpg", "1800000600", signature)

    now[0] += 601
    with pytest.raises(SignatureError, match="expired"):
        store.verify("GET", "faces-raw", "t/a.jpg", "1800000600", signature)


def test_presign_lifetime_and_key_length_limits(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "http://x", b"s" * 32)
    with pytest.raises(ObjectStoreError, match="7 days"):
        store.presign_put("faces-raw", "a.jpg", timedelta(days=8))
    with pytest.raises(ObjectStoreError, match="7 days"):
        store.presign_put("faces-raw", "a.jpg", timedelta(0))
    with pytest.raises(ObjectStoreError, match="32 bytes"):
        LocalObjectStore(tmp_path, "http://x", b"short")


def test_signing_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path)
    path = tmp_path / "keys" / "object_signing.key"
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signing_key(tmp_path) == key
    assert [p.name for p in path.parent.iterdir()] == ["object_signing.key"]  # no temp files left

    path.write_bytes(b"truncated")
    with pytest.raises(ObjectStoreError, match="delete it to generate a new one"):
        load_or_create_signing_key(tmp_path)
