"""The installers' ffmpeg check: the edge needs the program, a server box only warns."""

from __future__ import annotations

import shutil

import pytest

from appliance.install.preflight import ffmpeg


def test_ffmpeg_found_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPLIANCE_FFMPEG", raising=False)
    check = ffmpeg(fatal=True)
    assert check.ok and check.detail == shutil.which("ffmpeg") and check.fatal


def test_a_missing_ffmpeg_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_FFMPEG", "no-such-ffmpeg-program")
    edge, server = ffmpeg(fatal=True), ffmpeg(fatal=False)
    assert not edge.ok and edge.fatal and not server.fatal
    assert "APPLIANCE_FFMPEG=no-such-ffmpeg-program" in edge.detail and "install ffmpeg" in edge.detail
