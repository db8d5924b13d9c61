"""ASGI entry point for uvicorn: the factory ``appliance.server.asgi:create`` (``factory=True``).

``serve`` hands its worker processes the settings it validated (its ``--host``/``--port``
included) as one JSON document in ``SETTINGS_ENV``; started any other way, the factory reads the
``APPLIANCE_*`` environment itself.
"""

from __future__ import annotations

import os

import msgspec
from litestar import Litestar

from appliance.config import Settings, load_settings
from appliance.lib import heap
from appliance.server.app import create_app

SETTINGS_ENV = "APPLIANCE_SERVE_SETTINGS"


def settings_for_workers(settings: Settings) -> dict[str, str]:
    """The environment entry that gives every worker exactly these settings."""
    return {SETTINGS_ENV: msgspec.json.encode(settings).decode()}


def create() -> Litestar:
    heap.enable()  # a server process: freeze what start-up made (lib/heap.py)
    handed = os.environ.get(SETTINGS_ENV)
    settings = msgspec.json.decode(handed, type=Settings) if handed else load_settings()
    return create_app(settings)
