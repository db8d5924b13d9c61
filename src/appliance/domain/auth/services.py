"""Credential exchange: a password or an API key in, a short-lived JWT out."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import ColumnElement, exists, literal, select, update

from appliance.db.base import utcnow
from appliance.db.engine import Database
from appliance.db.models import ApiKey, User, UserSession
from appliance.domain.auth import api_keys
from appliance.domain.auth.passwords import verify_password
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.auth.schemas import ApiKeyGrant, PasswordGrant, TokenRequest, TokenResponse
from appliance.domain.auth.sessions import SET_SESSION, BrowserSessions, user_principal
from appliance.domain.auth.tokens import TokenIssuer
from appliance.lib.errors import UnauthorizedError

BAD_CREDENTIALS = "invalid username or password"
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_LIVENESS_SECONDS = 1.0
"""How long a worker request may trust the last revocation check of its API key. A revocation
through this process takes effect at once (``forget_api_key``); through another API process,
within this long. Without it every ingest event paid a transaction for the check."""


class AuthService:
    def __init__(self, db: Database, issuer: TokenIssuer) -> None:
        self.db = db
        self.issuer = issuer
        self._live_keys: dict[uuid.UUID, float] = {}
        self.sessions = BrowserSessions(db, issuer)

    async def exchange(self, grant: TokenRequest) -> TokenResponse:
        if isinstance(grant, PasswordGrant):
            principal = await self.password_principal(grant)
        else:
            principal = await self.api_key_principal(grant)
        return TokenResponse(access_token=self.issuer.issue(principal), expires_in=self.issuer.ttl_seconds)

    async def password_principal(self, grant: PasswordGrant) -> Principal:
        # The RLS policy on users lets this transaction read exactly the named row.
        async with self.db.transaction(None, login_username=grant.username) as session:
            user = (await session.execute(select(User).where(User.username == grant.username))).scalar()
        if not verify_password(user.password_hash if user else None, grant.password) or user is None:
            raise UnauthorizedError(BAD_CREDENTIALS)
        if user.disabled:
            raise UnauthorizedError("this account is disabled")
        return user_principal(
            user.id, user.role, user.tenant_id, user.site_ids, user.username, user.token_version
        )

    async def api_key_principal(self, grant: ApiKeyGrant) -> Principal:
        tenant_id, key_id, secret = api_keys.parse_key(grant.api_key)
        async with self.db.transaction(tenant_id) as session:
            key = await session.get(ApiKey, key_id)
            if key is None or not api_keys.secret_matches(secret, key.secret_hash):
                raise UnauthorizedError("invalid API key")
            if key.revoked_at is not None:
                raise UnauthorizedError("this API key has been revoked")
            now = utcnow()
            # A coarse "last used" is enough; writing it on every exchange would cost a row
            # update per token.
            if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
                await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        return Principal(
            sub=f"apikey:{key.id}",
            role=Role.WORKER,
            tenant_id=tenant_id,
            site_ids=(key.site_id,),
            camera_id=key.camera_id,
        )

    async def api_key_active(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bool:
        """Worker tokens die with their key: checked for every worker request (see
        ``KEY_LIVENESS_SECONDS``)."""
        checked = self._live_keys.get(key_id)
        if checked is not None and time.monotonic() - checked < KEY_LIVENESS_SECONDS:
            return True
        async with self.db.transaction(tenant_id) as session:
            revoked = await session.execute(select(ApiKey.revoked_at).where(ApiKey.id == key_id))
            row = revoked.first()
        active = row is not None and row[0] is None
        if active:
            self._live_keys[key_id] = time.monotonic()
        else:
            self._live_keys.pop(key_id, None)
        return active

    async def user_current(self, principal: Principal) -> bool:
        """A user's token is good only while the user exists, is enabled and has not changed
        since the token was issued (``token_version``): checked for every request, so disabling
        a user ends its tokens at once, in every API process."""
        user_id = principal.user_id
        if user_id is None or not principal.name:
            return False
        # The login lookup policy lets this read the named row, a system_admin's included.
        sid = principal.session_id
        live: ColumnElement[bool]
        async with self.db.transaction(principal.tenant_id, login_username=principal.name) as session:
            if sid is not None:
                # A token issued for a browser session ends when the session does (sign-out).
                await session.execute(SET_SESSION, {"sid": str(sid)})
                live = exists().where(UserSession.id == sid)
            else:
                live = literal(True)
            row = (
                await session.execute(
                    select(User.tenant_id, User.disabled, User.token_version, live.label("live")).where(
                        User.id == user_id
                    )
                )
            ).first()
        return (
            row is not None
            and row.live
            and row.tenant_id == principal.tenant_id
            and not row.disabled
            and row.token_version == principal.version
        )

    def forget_api_key(self, key_id: uuid.UUID) -> None:
        """The key changed (revoked, deleted): check it again on its next use."""
        self._live_keys.pop(key_id, None)
