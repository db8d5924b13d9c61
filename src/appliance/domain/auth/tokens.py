"""RS256 JWTs: the signing key pair, issuing and verifying tokens, the JWKS document."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from appliance.config import Settings
from appliance.domain.auth.principal import Principal, Role
from appliance.lib.errors import UnauthorizedError

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["sub", "role", "iat", "exp", "jti", "iss", "aud"]
VERIFIED_CACHE = 10_000
"""Verified tokens remembered (by their full text) until they expire; cleared when full."""


def load_or_create_private_key(settings: Settings) -> rsa.RSAPrivateKey:
    """The configured PEM, else ``<data_dir>/keys/jwt_private.pem`` (created on first start, mode 0600)."""
    if settings.jwt_private_key:
        pem = settings.jwt_private_key.encode()
    else:
        path = Path(settings.data_dir) / "keys" / "jwt_private.pem"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            # Two processes starting at once: the first rename wins, both read the same file.
            if not path.exists():
                tmp.replace(path)
            else:
                tmp.unlink(missing_ok=True)
        pem = path.read_bytes()
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError("the JWT signing key must be an RSA private key")
    return loaded


class TokenIssuer:
    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        session_idle_seconds: int = 7 * 24 * 3600,
        session_max_seconds: int = 30 * 24 * 3600,
    ) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self.session_idle_seconds = session_idle_seconds
        self.session_max_seconds = session_max_seconds
        self._verified: dict[str, tuple[Principal, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenIssuer:
        return cls(
            load_or_create_private_key(settings),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_ttl_seconds,
            session_idle_seconds=settings.session_idle_seconds,
            session_max_seconds=settings.session_max_seconds,
        )

    def issue(self, principal: Principal, now: float | None = None) -> str:
        iat = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "sub": principal.sub,
            "role": principal.role.value,
            "tenant_id": str(principal.tenant_id) if principal.tenant_id else None,
            "site_ids": [str(s) for s in principal.site_ids],
            "iat": iat,
            "exp": iat + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
        }
        if principal.camera_id:
            claims["camera_id"] = str(principal.camera_id)
        if principal.user_id is not None:
            claims["name"] = principal.name
            claims["ver"] = principal.version
            if principal.session_id is not None:
                claims["sid"] = principal.session_id.hex
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def verify(self, token: str) -> Principal:
        """Any defect (alg none/HS256, wrong key, expired, wrong audience) → ``UnauthorizedError``.

        A token whose signature was verified is remembered until it expires: an edge sends
        hundreds of requests with one token, and an RSA verification each was measurable."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if time.time() < expires:
                return principal
            del self._verified[token]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            principal = Principal(
                sub=str(claims["sub"]),
                role=Role(claims["role"]),
                tenant_id=uuid.UUID(claims["tenant_id"]) if claims.get("tenant_id") else None,
                site_ids=tuple(uuid.UUID(s) for s in claims.get("site_ids") or ()),
                camera_id=uuid.UUID(claims["camera_id"]) if claims.get("camera_id") else None,
                jti=str(claims["jti"]),
                name=str(claims.get("name") or ""),
                version=int(claims.get("ver") or 0),
                expires_at=float(claims["exp"]),
                session_id=uuid.UUID(hex=claims["sid"]) if claims.get("sid") else None,
            )
            return principal, float(claims["exp"])
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise UnauthorizedError(f"invalid token: {exc}") from exc

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": [jwk]}
