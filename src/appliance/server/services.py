"""Long-lived objects the app holds: database, token issuer, auth service."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine
from appliance.domain.auth.services import AuthService
from appliance.domain.auth.tokens import TokenIssuer
from appliance.recognition.runtime import RecognitionRuntime
from appliance.server.live import LiveHub


@dataclass
class Services:
    settings: Settings
    db: Database
    issuer: TokenIssuer
    auth: AuthService
    recognition: RecognitionRuntime
    live: LiveHub

    @classmethod
    def create(cls, settings: Settings) -> Services:
        db = Database(make_async_engine(settings.runtime_database_url, settings.db_pool_size))
        issuer = TokenIssuer.from_settings(settings)
        return cls(
            settings=settings,
            db=db,
            issuer=issuer,
            auth=AuthService(db, issuer),
            recognition=RecognitionRuntime(settings, db),
            live=LiveHub(settings.runtime_database_url),
        )

    async def close(self) -> None:
        await self.live.stop()
        await self.recognition.close()
        await self.db.dispose()
