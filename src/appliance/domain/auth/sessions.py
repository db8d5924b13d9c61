"""Browser sessions: a refresh cookie, rotated on every use, renews short access tokens (ADR 0003).

The cookie is ``<session id>.<secret>`` (256 random bits); the row keeps SHA-256 hashes of the
current secret and of the one it replaced. Each refresh checks the user row as every request does
(enabled, same ``token_version``), so disabling a user or changing its password, role or sites ends
its sessions at once; signing out deletes the row, which also ends the access tokens issued for it
(they carry its id, ``sid``, checked per request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import msgspec
from sqlalchemy import delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.engine import SET_CONTEXT, Database, context_params
from appliance.db.models import User, UserSession
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.auth.schemas import TokenResponse
from appliance.domain.auth.tokens import TokenIssuer
from appliance.lib.errors import UnauthorizedError

COOKIE = "appliance_session"
"""httpOnly, SameSite=Strict, sent only to ``COOKIE_PATH``."""
HINT_COOKIE = "appliance_signed_in"
"""Readable by the page, holds no secret: the SPA asks for a refresh at start only when it is
set, so a signed-out visitor's first page costs no request and logs no 401."""
COOKIE_PATH = "/v1/auth/session"
SESSION_HEADER = "X-Appliance-Session"
"""A header a cross-site form or link cannot send: session routes refuse requests without it."""
REUSE_GRACE = timedelta(seconds=30)
"""How long the secret a refresh replaced still renews the access token (without rotating again):
two tabs of one browser refreshing at once present the same cookie. Later, it is a stolen copy
and ends the session."""
ENDED = "this session has ended: sign in again"
SET_SESSION = text("SELECT set_config('app.session_id', :sid, true)")


def user_principal(
    user_id: uuid.UUID,
    role: str,
    tenant_id: uuid.UUID | None,
    site_ids: Sequence[uuid.UUID] | None,
    username: str,
    version: int,
    session_id: uuid.UUID | None = None,
) -> Principal:
    """Who a user's token says it is: the user row decides role, tenant, sites and version."""
    return Principal(
        sub=f"user:{user_id}",
        role=Role(role),
        tenant_id=tenant_id,
        site_ids=tuple(site_ids or ()),
        name=username,
        version=version,
        session_id=session_id,
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def format_cookie(session_id: uuid.UUID, secret: str) -> str:
    return f"{session_id.hex}.{secret}"


def parse_cookie(value: str) -> tuple[uuid.UUID, str]:
    session_id, _, secret = value.partition(".")
    try:
        if not secret or len(value) > 200:
            raise ValueError("bad shape")
        return uuid.UUID(hex=session_id), secret
    except ValueError as exc:
        raise UnauthorizedError(ENDED) from exc


@dataclass(frozen=True)
class Issued:
    token: TokenResponse
    cookie: str | None
    """The new cookie value; None: the browser keeps the one it has (a concurrent refresh)."""
    max_age: int
    """Seconds the cookie lives: until the session would end idle, or its absolute end if sooner."""


class BrowserSessions:
    def __init__(self, db: Database, issuer: TokenIssuer) -> None:
        self.db = db
        self.issuer = issuer
        self.idle = timedelta(seconds=issuer.session_idle_seconds)
        self.lifetime = timedelta(seconds=issuer.session_max_seconds)

    async def start(self, principal: Principal) -> Issued:
        """A new session for a user who has just proved its password."""
        if principal.user_id is None:
            raise UnauthorizedError("only users sign in to the dashboard")
        session_id, secret, now = uuid.uuid4(), secrets.token_urlsafe(32), utcnow()
        async with self.db.transaction(None) as session:
            await session.execute(SET_SESSION, {"sid": str(session_id)})
            session.add(
                UserSession(
                    id=session_id,
                    user_id=principal.user_id,
                    tenant_id=principal.tenant_id,
                    username=principal.name,
                    token_version=principal.version,
                    secret_hash=_hash(secret),
                    rotated_at=now,
                    expires_at=now + self.lifetime,
                )
            )
        return self._issued(
            msgspec.structs.replace(principal, session_id=session_id),
            format_cookie(session_id, secret),
            self.lifetime,
        )

    async def refresh(self, cookie: str) -> Issued:
        """A new access token and a rotated cookie; ``UnauthorizedError`` when the session is gone,
        expired, its user disabled or changed, or a replaced secret comes back (then it ends)."""
        session_id, secret = parse_cookie(cookie)
        digest = _hash(secret)
        outcome: Issued | str
        async with self.db.transaction(None) as session:
            await session.execute(SET_SESSION, {"sid": str(session_id)})
            row = (
                await session.execute(
                    select(UserSession).where(UserSession.id == session_id).with_for_update()
                )
            ).scalar()
            if row is None:
                raise UnauthorizedError(ENDED)
            outcome = await self._renew(session, row, digest)
            if isinstance(outcome, str):
                await session.delete(row)
        # Raised after the commit, so an ended session stays deleted.
        if isinstance(outcome, str):
            raise UnauthorizedError(outcome)
        return outcome

    async def _renew(self, session: AsyncSession, row: UserSession, digest: str) -> Issued | str:
        when = utcnow()
        if when >= row.expires_at or when - row.rotated_at >= self.idle:
            return "this session has expired: sign in again"
        current = hmac.compare_digest(digest, row.secret_hash)
        recent = (
            row.previous_hash is not None
            and hmac.compare_digest(digest, row.previous_hash)
            and when - row.rotated_at <= REUSE_GRACE
        )
        if not current and not recent:
            return "this session was ended: its refresh cookie had already been used"
        # The user row decides, as for every request (ADR 0002 for the lookup of system_admin).
        await session.execute(SET_CONTEXT, context_params(row.tenant_id, login_username=row.username))
        user = (
            await session.execute(
                select(User.tenant_id, User.role, User.site_ids, User.disabled, User.token_version).where(
                    User.id == row.user_id
                )
            )
        ).first()
        if (
            user is None
            or user.tenant_id != row.tenant_id
            or user.disabled
            or user.token_version != row.token_version
        ):
            return "this session has ended: the account was disabled or changed; sign in again"
        principal = user_principal(
            row.user_id, user.role, user.tenant_id, user.site_ids, row.username, user.token_version, row.id
        )
        remaining = row.expires_at - when
        if not current:
            return self._issued(principal, None, remaining)
        secret = secrets.token_urlsafe(32)
        row.previous_hash, row.secret_hash, row.rotated_at = row.secret_hash, _hash(secret), when
        return self._issued(principal, format_cookie(row.id, secret), remaining)

    async def end(self, cookie: str) -> bool:
        """Sign out: delete the session the cookie names (its current or just-replaced secret)."""
        try:
            session_id, secret = parse_cookie(cookie)
        except UnauthorizedError:
            return False
        digest = _hash(secret)
        async with self.db.transaction(None) as session:
            await session.execute(SET_SESSION, {"sid": str(session_id)})
            result = await session.execute(
                delete(UserSession).where(
                    UserSession.id == session_id,
                    or_(UserSession.secret_hash == digest, UserSession.previous_hash == digest),
                )
            )
        return bool(getattr(result, "rowcount", 0))

    def _issued(self, principal: Principal, cookie: str | None, remaining: timedelta) -> Issued:
        token = TokenResponse(access_token=self.issuer.issue(principal), expires_in=self.issuer.ttl_seconds)
        max_age = int(min(self.idle, remaining).total_seconds())
        return Issued(token=token, cookie=cookie, max_age=max(max_age, 0))
