"""RS256 tokens without a database: issue/verify round trip, tampering, the JWKS document."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from appliance.domain.auth import tokens as tokens_module
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.auth.tokens import TokenIssuer
from appliance.lib.errors import UnauthorizedError

ISSUER, AUDIENCE, TTL = "appliance-test", "appliance-api-test", 600


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer(private_key: rsa.RSAPrivateKey) -> TokenIssuer:
    return TokenIssuer(private_key, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=TTL)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def principal(**overrides: Any) -> Principal:
    values: dict[str, Any] = {
        "sub": f"user:{uuid.uuid4()}",
        "role": Role.SITE_MANAGER,
        "tenant_id": uuid.uuid4(),
        "site_ids": (uuid.uuid4(), uuid.uuid4()),
    }
    values.update(overrides)
    return Principal(**values)


def test_round_trip_keeps_every_claim(issuer: TokenIssuer) -> None:
    original = principal(camera_id=uuid.uuid4())
    before = int(time.time())
    token = issuer.issue(original)
    verified = issuer.verify(token)
    assert verified.sub == original.sub
    assert verified.role is Role.SITE_MANAGER
    assert verified.tenant_id == original.tenant_id
    assert verified.site_ids == original.site_ids
    assert verified.camera_id == original.camera_id
    assert len(verified.jti) == 32

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert before <= claims["iat"] <= before + 5
    assert claims["exp"] == claims["iat"] + TTL
    assert claims["jti"] == verified.jti


def test_system_admin_without_tenant_round_trips(issuer: TokenIssuer) -> None:
    verified = issuer.verify(issuer.issue(principal(role=Role.SYSTEM_ADMIN, tenant_id=None, site_ids=())))
    assert verified.role is Role.SYSTEM_ADMIN and verified.tenant_id is None and verified.site_ids == ()
    assert verified.camera_id is None


def test_every_token_gets_a_fresh_jti(issuer: TokenIssuer) -> None:
    who = principal()
    assert issuer.verify(issuer.issue(who)).jti != issuer.verify(issuer.issue(who)).jti


def _tamper(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims.update(changes)
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "system_admin"},
        {"tenant_id": str(uuid.uuid4())},
        {"site_ids": [str(uuid.uuid4())]},
        {"exp": 4_102_444_800},
    ],
    ids=["role", "tenant", "sites", "exp"],
)
def test_a_tampered_payload_is_rejected(issuer: TokenIssuer, changes: dict[str, Any]) -> None:
    token = issuer.issue(principal())
    issuer.verify(token)  # the untouched token is fine
    with pytest.raises(UnauthorizedError):
        issuer.verify(_tamper(token, **changes))


def test_a_truncated_signature_is_rejected(issuer: TokenIssuer) -> None:
    token = issuer.issue(principal())
    with pytest.raises(UnauthorizedError):
        issuer.verify(token[:-4])


def test_another_issuers_key_is_rejected(issuer: TokenIssuer) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = TokenIssuer(other_key, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=TTL)
    assert other.kid != issuer.kid
    with pytest.raises(UnauthorizedError):
        issuer.verify(other.issue(principal()))


def test_expired_token_is_rejected(issuer: TokenIssuer) -> None:
    token = issuer.issue(principal(), now=time.time() - TTL - 120)
    with pytest.raises(UnauthorizedError, match="expired"):
        issuer.verify(token)


@pytest.mark.parametrize(
    ("issuer_name", "audience"), [("someone-else", AUDIENCE), (ISSUER, "another-api")], ids=["iss", "aud"]
)
def test_wrong_issuer_or_audience_is_rejected(
    private_key: rsa.RSAPrivateKey, issuer: TokenIssuer, issuer_name: str, audience: str
) -> None:
    foreign = TokenIssuer(private_key, issuer=issuer_name, audience=audience, ttl_seconds=TTL)
    with pytest.raises(UnauthorizedError):
        issuer.verify(foreign.issue(principal()))


@pytest.mark.parametrize("missing", ["sub", "role", "iat", "exp", "jti", "iss", "aud"])
def test_a_required_claim_may_not_be_missing(
    private_key: rsa.RSAPrivateKey, issuer: TokenIssuer, missing: str
) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user:x",
        "role": "tenant_admin",
        "tenant_id": str(uuid.uuid4()),
        "site_ids": [],
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    assert issuer.verify(jwt.encode(claims, private_key, algorithm="RS256")).role is Role.TENANT_ADMIN
    del claims[missing]
    with pytest.raises(UnauthorizedError):
        issuer.verify(jwt.encode(claims, private_key, algorithm="RS256"))


@pytest.mark.parametrize(
    "changes",
    [{"role": "root"}, {"tenant_id": "not-a-uuid"}, {"site_ids": ["nope"]}, {"site_ids": 7}],
    ids=["unknown-role", "bad-tenant", "bad-site", "sites-not-a-list"],
)
def test_well_signed_but_malformed_claims_are_unauthorized(
    private_key: rsa.RSAPrivateKey, issuer: TokenIssuer, changes: dict[str, Any]
) -> None:
    """A signed token with nonsense claims must be a 401, never an unhandled 500."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user:x",
        "role": "tenant_admin",
        "tenant_id": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        "iss": ISSUER,
        "aud": AUDIENCE,
        **changes,
    }
    with pytest.raises(UnauthorizedError):
        issuer.verify(jwt.encode(claims, private_key, algorithm="RS256"))


def test_alg_none_and_hs256_with_the_public_key_are_rejected(issuer: TokenIssuer) -> None:
    from cryptography.hazmat.primitives import hashes, hmac, serialization

    claims = jwt.decode(issuer.issue(principal()), options={"verify_signature": False})
    body = b64(json.dumps(claims).encode())
    unsigned = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + body + "."
    with pytest.raises(UnauthorizedError):
        issuer.verify(unsigned)

    pem = issuer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + body).encode()
    mac = hmac.HMAC(pem, hashes.SHA256())
    mac.update(signing_input)
    with pytest.raises(UnauthorizedError):
        issuer.verify(signing_input.decode() + "." + b64(mac.finalize()))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "Bearer x"])
def test_garbage_is_unauthorized(issuer: TokenIssuer, garbage: str) -> None:
    with pytest.raises(UnauthorizedError):
        issuer.verify(garbage)


def test_jwks_shape_verifies_issued_tokens(issuer: TokenIssuer) -> None:
    document = issuer.jwks()
    assert list(document) == ["keys"] and len(document["keys"]) == 1
    key = document["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] == issuer.kid
    assert {"n", "e"} <= set(key)
    # Never the private parts.
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    numbers = issuer.public_key.public_numbers()
    assert int.from_bytes(unb64(key["e"]), "big") == numbers.e
    assert int.from_bytes(unb64(key["n"]), "big") == numbers.n

    jwk = jwt.PyJWK(key)
    claims = jwt.decode(issuer.issue(principal()), jwk.key, algorithms=["RS256"], audience=AUDIENCE)
    assert claims["iss"] == ISSUER


def test_kid_is_stable_for_the_same_key(private_key: rsa.RSAPrivateKey, issuer: TokenIssuer) -> None:
    again = TokenIssuer(private_key, issuer="x", audience="y", ttl_seconds=1)
    assert again.kid == issuer.kid and again.jwks()["keys"][0]["n"] == issuer.jwks()["keys"][0]["n"]


def test_signing_key_is_created_once_with_mode_0600(tmp_path: Any) -> None:
    from appliance.config import load_settings
    from appliance.domain.auth.tokens import load_or_create_private_key

    settings = load_settings(env={}, data_dir=str(tmp_path))
    first = load_or_create_private_key(settings)
    path = tmp_path / "keys" / "jwt_private.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    second = load_or_create_private_key(settings)
    assert first.private_numbers() == second.private_numbers()
    assert (
        TokenIssuer.from_settings(settings).kid
        == TokenIssuer(first, issuer="i", audience="a", ttl_seconds=1).kid
    )


def test_a_verified_token_is_remembered_only_until_it_expires(
    issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issuer.issue(principal())
    first = issuer.verify(token)
    assert issuer.verify(token) is first  # remembered: no second signature check
    with pytest.raises(UnauthorizedError):  # another text is another token
        issuer.verify(_tamper(token, role="system_admin"))
    later = time.time() + TTL + 1
    monkeypatch.setattr(tokens_module.time, "time", lambda: later)
    # Past its expiry the cache lets go and the full check runs again (PyJWT reads the real
    # clock, so here it passes; test_expired_token_is_rejected covers the rejection).
    again = issuer.verify(token)
    assert again == first and again is not first
