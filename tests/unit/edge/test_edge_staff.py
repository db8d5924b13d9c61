"""The local staff gallery: threshold, dimension check, rebuild only on a new version."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from appliance.edge.staff import StaffGallery


def unit(seed: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


class Gallery:
    """What GET /v1/edge/staff answers (a plain object with the client's one method)."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {"version": "v1", "items": []}
        self.calls = 0

    def get_json(self, path: str, **_: Any) -> Any:
        assert path == "/v1/edge/staff"
        self.calls += 1
        return self.body


def test_match_at_or_above_the_threshold() -> None:
    gallery = StaffGallery(threshold=0.4, dim=8)
    anna, ben = uuid.uuid4(), uuid.uuid4()
    gallery.load(
        "v1",
        [
            {"staff_id": str(anna), "embedding": (unit(1) * 3).tolist()},
            {"staff_id": str(ben), "embedding": unit(2).tolist()},
        ],
    )
    assert len(gallery) == 2
    staff_id, score = gallery.match(unit(1))
    assert staff_id == anna and score > 0.99  # stored vectors are re-normalised
    stranger = unit(3)
    staff_id, score = gallery.match(stranger)
    assert staff_id is None and score < 0.4


def test_empty_gallery_matches_nobody() -> None:
    assert StaffGallery(threshold=0.4, dim=8).match(unit(1)) == (None, 0.0)


def test_wrong_dimension_embeddings_are_ignored() -> None:
    gallery = StaffGallery(threshold=0.4, dim=8)
    gallery.load("v1", [{"staff_id": str(uuid.uuid4()), "embedding": unit(1, dim=16).tolist()}])
    assert len(gallery) == 0


def test_refresh_rebuilds_only_when_the_version_changes() -> None:
    api = Gallery()
    gallery = StaffGallery(threshold=0.4, dim=8)
    person = uuid.uuid4()
    api.body = {"version": "v1", "items": [{"staff_id": str(person), "embedding": unit(5).tolist()}]}
    assert gallery.refresh(api) is True
    assert gallery.refresh(api) is False and gallery.rebuilds == 1 and api.calls == 2
    api.body = {"version": "v2", "items": []}
    assert gallery.refresh(api) is True
    assert len(gallery) == 0 and gallery.version == "v2" and gallery.match(unit(5)) == (None, 0.0)
