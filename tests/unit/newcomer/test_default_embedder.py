"""The default embedder is the one the model manifest ships, never the test-only stand-in (issue 22)."""

from __future__ import annotations

from appliance.config import DEFAULT_EMBEDDER, Settings, load_settings
from appliance.vision.models import MANIFEST, find_pack


def test_the_default_embedder_is_the_manifests_shipped_one() -> None:
    shipped = [p.file for p in MANIFEST if p.role == "embedder" and p.ships and not p.test_only]
    assert shipped == [DEFAULT_EMBEDDER]
    pack = find_pack(DEFAULT_EMBEDDER)
    assert pack.commercial_use and pack.sha256 is not None and not pack.test_only
    assert Settings().embedder == DEFAULT_EMBEDDER == load_settings(env={}).embedder


def test_the_stand_in_is_used_only_when_named() -> None:
    stand_in = next(p for p in MANIFEST if p.test_only)
    assert stand_in.file != DEFAULT_EMBEDDER
    named = load_settings(env={"APPLIANCE_EMBEDDER": stand_in.file})
    assert named.embedder == stand_in.file
