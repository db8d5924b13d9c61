"""The composition root: every long-lived object an API process holds is built here, and only here.

Controllers and guards receive these through the typed dependencies of ``server/deps.py``; the
areas see the recognition parts through the ``RecognitionRuntime`` port
(``recognition/runtime.py``), which :class:`Recognition` implements."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine
from appliance.domain.auth.principal import Principal
from appliance.domain.auth.services import AuthService
from appliance.domain.auth.tokens import TokenIssuer
from appliance.lib.heap import freeze_long_lived
from appliance.recognition.staff import StaffGallery
from appliance.server.live import LiveHub

if TYPE_CHECKING:  # imported on first use: a process that never ingests loads neither
    from appliance.domain.events.services import IngestService
    from appliance.storage.base import ObjectStore
    from appliance.vectors.base import VectorIndex
    from appliance.vision.faces import Vision

log = logging.getLogger("appliance.recognition")


class Recognition:
    """The recognition parts, built on first use: routes that never touch recognition never load
    a model or a tenant's vectors."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.staff = StaffGallery(db)
        self._lock = asyncio.Lock()
        self._vectors: VectorIndex | None = None
        self._store: ObjectStore | None = None
        self._ingest: IngestService | None = None
        self._vision: Vision | None = None
        self.dim: int | None = None

    def opened_index(self) -> VectorIndex | None:
        """The index if this process has opened it already (readiness checks it then)."""
        return self._vectors

    async def vectors(self) -> VectorIndex:
        """The vector index (opened on first use)."""
        if self._vectors is None:
            async with self._lock:
                if self._vectors is None:
                    from appliance.recognition.embedding_dim import embedding_dim_from_settings
                    from appliance.vectors.factory import open_vector_index

                    dim = embedding_dim_from_settings(self.settings)
                    self._vectors = await open_vector_index(self.settings, self.db, dim)
                    self.dim = dim
                    freeze_long_lived("vector index opened")
        return self._vectors

    async def store(self) -> ObjectStore:
        """The object store, its buckets ensured (built on first use)."""
        if self._store is None:
            from appliance.storage.factory import object_store_from_settings

            store = object_store_from_settings(self.settings)
            await asyncio.to_thread(store.ensure_buckets, self.settings.raw_retention_days)
            self._store = store
        return self._store

    async def ingest(self) -> IngestService:
        """The face-event ingest service, over the vector index."""
        if self._ingest is None:
            from appliance.domain.events.services import IngestService

            vectors = await self.vectors()
            assert self.dim is not None
            self._ingest = IngestService(self.db, vectors, self.staff, self.settings, self.dim)
        return self._ingest

    async def tenant_deleted(self, tenant_id: uuid.UUID) -> None:
        """Drop the tenant's vectors with it; the rows are already gone."""
        if self._vectors is not None:
            await self._vectors.drop_tenant(tenant_id)
            return
        try:
            vectors = await self.vectors()
        except Exception:  # no embedder/dimension configured on this box: nothing was indexed here
            log.warning("vector index unavailable; tenant %s vectors not dropped", tenant_id, exc_info=True)
            return
        await vectors.drop_tenant(tenant_id)

    async def vision(self) -> Vision:
        """Detector + embedder for server-side work (staff enrolment), loaded on first use."""
        if self._vision is None:
            from appliance.vision.faces import Vision

            self._vision = await asyncio.to_thread(Vision.from_settings, self.settings)
        return self._vision

    async def close(self) -> None:
        if self._ingest is not None:  # the last live announcements
            await self._ingest.notifier.close()
        if self._vectors is not None:
            await self._vectors.close()


@dataclass(frozen=True)
class TokenAuthenticator:
    """What the deny-by-default guard checks a bearer token with (``domain/auth/guards.py``)."""

    issuer: TokenIssuer
    auth: AuthService

    def verify(self, token: str) -> Principal:
        return self.issuer.verify(token)

    async def api_key_active(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bool:
        return await self.auth.api_key_active(tenant_id, key_id)

    async def user_current(self, principal: Principal) -> bool:
        return await self.auth.user_current(principal)


@dataclass
class Services:
    settings: Settings
    db: Database
    issuer: TokenIssuer
    auth: AuthService
    recognition: Recognition
    live: LiveHub

    @cached_property
    def authenticator(self) -> TokenAuthenticator:
        return TokenAuthenticator(self.issuer, self.auth)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        db = Database(make_async_engine(settings.runtime_database_url, settings.db_pool_size))
        issuer = TokenIssuer.from_settings(settings)
        return cls(
            settings=settings,
            db=db,
            issuer=issuer,
            auth=AuthService(db, issuer),
            recognition=Recognition(settings, db),
            live=LiveHub(settings.runtime_database_url),
        )

    async def close(self) -> None:
        await self.live.stop()
        await self.recognition.close()
        await self.db.dispose()
