"""API key format and password hashing, without a database."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.auth import api_keys
from appliance.domain.auth.passwords import hash_password, verify_password
from appliance.lib.errors import UnauthorizedError


def test_format_then_parse_round_trips() -> None:
    tenant_id, key_id, secret = uuid.uuid4(), uuid.uuid4(), api_keys.new_secret()
    key = api_keys.format_key(tenant_id, key_id, secret)
    assert key == f"apk_{tenant_id.hex}_{key_id.hex}_{secret}"
    assert api_keys.parse_key(key) == (tenant_id, key_id, secret)


@given(
    st.uuids(),
    st.uuids(),
    st.text(alphabet="abcXYZ019-_", min_size=1, max_size=64),
)
def test_round_trip_with_any_urlsafe_secret(tenant_id: uuid.UUID, key_id: uuid.UUID, secret: str) -> None:
    """token_urlsafe secrets may contain '_' (and start or end with it): only the first 3 split."""
    assert api_keys.parse_key(api_keys.format_key(tenant_id, key_id, secret)) == (tenant_id, key_id, secret)


@pytest.mark.parametrize("secret", ["_", "a_b", "__x__", "_leading", "trailing_"])
def test_secrets_containing_underscores(secret: str) -> None:
    tenant_id, key_id = uuid.uuid4(), uuid.uuid4()
    _, _, parsed = api_keys.parse_key(api_keys.format_key(tenant_id, key_id, secret))
    assert parsed == secret


def test_new_secrets_are_random_and_urlsafe() -> None:
    secrets = {api_keys.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) >= 43  # 32 random bytes
        assert set(secret) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


T, K = (
    "5f0c7a3e9d2b4e61a8c4f1b27d9e0a36",
    "c2e8b1d4a7f94c05b3e6d8a1f2c7e940",
)  # fixed: ids the same in every collection


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "apk",
        f"apk_{T}_{K}",  # no secret part at all
        f"key_{T}_{K}_secret",  # wrong prefix
        f"APK_{T}_{K}_secret",
        f"apk_nothex_{K}_secret",
        f"apk_{T}_{K[:-1]}_secret",  # 31 hex digits
        f"apk_{T}zz_{K}_secret",
        f"apk__{K}_secret",
        "apk_" + "_" * 3,
        "Bearer something",
    ],
)
def test_malformed_keys_are_unauthorized(bad: str) -> None:
    with pytest.raises(UnauthorizedError):
        api_keys.parse_key(bad)


def test_only_the_hash_is_stored_and_compared_in_constant_time() -> None:
    secret = api_keys.new_secret()
    stored = api_keys.hash_secret(secret)
    assert secret not in stored and len(stored) == 64
    assert api_keys.secret_matches(secret, stored)
    assert not api_keys.secret_matches(secret + "x", stored)
    assert not api_keys.secret_matches(api_keys.new_secret(), stored)
    assert not api_keys.secret_matches(secret, "")


def test_password_hash_round_trip() -> None:
    hashed = hash_password("correct-horse-battery")
    assert hashed.startswith("$argon2id$")
    assert "correct-horse-battery" not in hashed
    assert verify_password(hashed, "correct-horse-battery")
    assert not verify_password(hashed, "correct-horse-batterY")
    assert not verify_password(hashed, "")
    # Salted: the same password never hashes the same way twice.
    assert hash_password("correct-horse-battery") != hashed


@pytest.mark.parametrize("password", ["anything", "", "not-a-real-password"])
def test_a_missing_hash_never_verifies(password: str) -> None:
    """``None`` (no such user) runs the dummy hash for timing, but must never succeed — not even
    with the dummy hash's own password."""
    assert verify_password(None, password) is False


@pytest.mark.parametrize("stored", ["", "not-an-argon2-hash", "$argon2id$v=19$m=1,t=1,p=1$xx$yy"])
def test_an_empty_or_corrupt_hash_never_verifies(stored: str) -> None:
    assert verify_password(stored, "not-a-real-password") is False
    assert verify_password(stored, "anything") is False
