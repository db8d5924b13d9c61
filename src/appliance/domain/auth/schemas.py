from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=150)]


class PasswordGrant(msgspec.Struct, tag_field="grant_type", tag="password", forbid_unknown_fields=True):
    username: Username
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    scope: str | None = None


class ApiKeyGrant(msgspec.Struct, tag_field="grant_type", tag="api_key", forbid_unknown_fields=True):
    api_key: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    scope: str | None = None


TokenRequest = PasswordGrant | ApiKeyGrant


class TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"


class SessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Sign in to the dashboard: an access token in the body, a refresh cookie beside it."""

    username: Username
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
