"""`serve` hands its workers the settings it validated, as one JSON entry the ASGI factory reads."""

from __future__ import annotations

import msgspec
import pytest

from appliance.config import Settings, load_settings
from appliance.server.asgi import SETTINGS_ENV, settings_for_workers


def test_the_handed_settings_are_the_validated_ones_exactly() -> None:
    settings = load_settings(env={"APPLIANCE_PORT": "9123"}, host="0.0.0.0", jwt_ttl_seconds=60)
    handed = settings_for_workers(settings)
    assert list(handed) == [SETTINGS_ENV]
    assert msgspec.json.decode(handed[SETTINGS_ENV], type=Settings) == settings


def test_the_factory_prefers_the_handed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.server import asgi

    seen: list[Settings] = []
    monkeypatch.setattr(asgi, "create_app", lambda settings: seen.append(settings) or settings)
    monkeypatch.setattr(asgi.heap, "enable", lambda on=True: None)  # not this test process: lib/heap.py
    monkeypatch.setenv("APPLIANCE_PORT", "8081")  # what a worker must NOT fall back to
    monkeypatch.setenv(SETTINGS_ENV, settings_for_workers(load_settings(env={}, port=9999))[SETTINGS_ENV])
    asgi.create()
    monkeypatch.delenv(SETTINGS_ENV)
    asgi.create()
    assert [s.port for s in seen] == [9999, 8081]
