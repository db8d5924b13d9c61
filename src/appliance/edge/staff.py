"""The local staff gallery: fetched from ``GET /v1/edge/staff`` at start, refreshed periodically.

The API answers with a ``version`` that changes whenever the gallery changes; the matrix is
rebuilt only then. A face at/above ``threshold`` to any staff embedding is marked
``is_staff_local`` (with its ``staff_id``): the event still goes to the server, which records the
sighting but skips the customer flow. If a refresh fails the last gallery is kept.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger("appliance.edge.staff")


class JsonGetter(Protocol):
    def get_json(self, path: str, **kwargs: Any) -> Any: ...


class StaffGallery:
    def __init__(self, threshold: float, dim: int | None = None) -> None:
        self.threshold = threshold
        self.dim = dim
        self.version: str | None = None
        self._lock = threading.Lock()
        self._ids: list[uuid.UUID] = []
        self._matrix: npt.NDArray[np.float32] = np.zeros((0, dim or 1), dtype=np.float32)
        self.refreshes = 0
        self.rebuilds = 0

    def __len__(self) -> int:
        return len(self._ids)

    def load(self, version: str, items: list[dict[str, Any]]) -> None:
        ids: list[uuid.UUID] = []
        rows: list[npt.NDArray[np.float32]] = []
        for item in items:
            vector = np.asarray(item["embedding"], dtype=np.float32)
            if self.dim is not None and vector.shape[0] != self.dim:
                log.warning(
                    "staff embedding of dim %d ignored (the embedder gives %d)", vector.shape[0], self.dim
                )
                continue
            norm = float(np.linalg.norm(vector))
            if norm == 0:
                continue
            ids.append(uuid.UUID(str(item["staff_id"])))
            rows.append(vector / norm)
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim or 1), dtype=np.float32)
        with self._lock:
            self._ids, self._matrix, self.version = ids, matrix, version
        self.rebuilds += 1

    def refresh(self, api: JsonGetter) -> bool:
        """Fetch the gallery; True when it changed (and was rebuilt)."""
        body = api.get_json("/v1/edge/staff")
        self.refreshes += 1
        version = str(body["version"])
        if version == self.version:
            return False
        self.load(version, list(body.get("items", [])))
        log.info("staff gallery %s: %d embeddings", version, len(self))
        return True

    def match(self, embedding: npt.NDArray[np.float32]) -> tuple[uuid.UUID | None, float]:
        """(staff id, similarity) when at/above the threshold, else (None, best similarity)."""
        with self._lock:
            if not self._ids:
                return None, 0.0
            scores = self._matrix @ embedding.astype(np.float32)
            best = int(np.argmax(scores))
            score = float(scores[best])
            return (self._ids[best] if score >= self.threshold else None), score


class StaffRefresher:
    """Background refresh every ``interval`` seconds (errors are logged, the old gallery stays)."""

    def __init__(self, gallery: StaffGallery, api: JsonGetter, interval: float) -> None:
        self.gallery = gallery
        self.api = api
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-staff", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.gallery.refresh(self.api)
            except Exception as exc:  # the API may be down: keep the last gallery
                log.warning("staff gallery refresh failed: %s", exc)
