"""API key format: ``apk_<tenant>_<key id>_<secret>``.

The tenant and key ids are public; they let the runtime set the RLS tenant *before* it
looks the key up, so no code path needs to read api_keys across tenants.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from appliance.lib.errors import UnauthorizedError

PREFIX = "apk"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def format_key(tenant_id: uuid.UUID, key_id: uuid.UUID, secret: str) -> str:
    return f"{PREFIX}_{tenant_id.hex}_{key_id.hex}_{secret}"


def parse_key(api_key: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    parts = api_key.split("_", 3)
    try:
        if len(parts) != 4 or parts[0] != PREFIX:
            raise ValueError("bad shape")
        return uuid.UUID(hex=parts[1]), uuid.UUID(hex=parts[2]), parts[3]
    except ValueError as exc:
        raise UnauthorizedError("invalid API key") from exc


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
