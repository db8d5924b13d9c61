"""Edge worker settings: ``APPLIANCE_*`` environment variables, like the server's.

They live here (not in :class:`appliance.config.Settings`) because only the edge reads them; the
shared ones (models dir, embedder, staff threshold) still come from the server settings.
"""

from __future__ import annotations

import re
from typing import Any

from appliance.config import from_environment
from appliance.edge.quality import QualityConfig


class EdgeSettings(QualityConfig, kw_only=True, frozen=True):
    """The edge worker's settings; the quality gate's fields (:class:`QualityConfig`) among them."""

    worker_fps: float = 5.0
    """Frames analysed per second and camera (the rest are skipped, never decoded to RGB)."""
    queue_path: str = "data/edge-queue.sqlite3"
    queue_max_rows: int = 10_000
    """Pending events kept on disk; beyond it the OLDEST pending event is dropped (and counted)."""
    track_timeout_seconds: float = 2.0
    """A track closes (and emits its one event) once unseen this long."""
    track_max_seconds: float = 60.0
    """A person in view longer than this emits an event per period (the server folds them into one visit)."""
    staff_refresh_seconds: float = 60.0
    detect_max_width: int = 1280
    """Wider frames are downscaled for detection only (alignment uses the full frame)."""
    attributes: bool = True
    """Run the CC0 gender/age models when their files are in the models dir."""
    senders: int = 2
    """Concurrent uploader threads."""
    drain_timeout_seconds: float = 15.0
    """On SIGTERM: how long to keep sending before exiting (the rest stays queued on disk)."""
    http_timeout_seconds: float = 10.0
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 60.0
    max_server_errors: int = 3
    """A 5xx (not 502/503/504) for the same event this many times dead-letters it."""
    snapshot_tries: int = 3
    """Tries to store an event's snapshot; after them the event is sent without it."""


def load_edge_settings(env: dict[str, str] | None = None, **overrides: Any) -> EdgeSettings:
    """Edge settings from the environment; an override of ``None`` (an option not given) leaves it."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return from_environment(EdgeSettings, env, given, "edge configuration")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``"250ms"``, ``"2s"``, ``"2"`` (seconds), ``"1.5m"``, ``"1h"``, ``"1d"`` → seconds."""
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 250ms, 2s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
