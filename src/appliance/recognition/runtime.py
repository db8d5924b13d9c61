"""What the areas need of the recognition parts an API process holds: a port, not a builder.

The areas (erasure, identity, tenant deletion, staff enrolment) and the jobs ask for the vector
index, the object store or the face models through this protocol; the server's composition root
(``appliance.server.services``) builds the parts on first use and is the one implementation.
Nothing here imports an area, so ``recognition`` and ``domain`` form no cycle."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from appliance.config import Settings
    from appliance.db.engine import Database
    from appliance.recognition.staff import StaffGallery
    from appliance.storage.base import ObjectStore
    from appliance.vectors.base import VectorIndex
    from appliance.vision.faces import Vision


class RecognitionRuntime(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def staff(self) -> StaffGallery:
        """The tenants' staff embeddings (the ingest path leaves staff out with them)."""
        ...

    async def vectors(self) -> VectorIndex:
        """The vector index (opened on first use)."""
        ...

    async def store(self) -> ObjectStore:
        """The object store, its buckets ensured (built on first use)."""
        ...

    async def vision(self) -> Vision:
        """Detector + embedder for server-side work (staff enrolment), loaded on first use."""
        ...

    async def tenant_deleted(self, tenant_id: uuid.UUID) -> None:
        """Drop the tenant's vectors with it; the rows are already gone."""
        ...
