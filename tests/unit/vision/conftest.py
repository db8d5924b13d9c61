"""Paths to the real models and photos (read in place, never copied): APPLIANCE_MODELS_DIR /
APPLIANCE_TEST_FACES_DIR, else ``../shared/{models,faces}`` beside the repo (as ``make`` sets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.demo import DEFAULT_FACES, resolve_models_dir


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return resolve_models_dir(load_settings())


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return Path(os.environ.get("APPLIANCE_TEST_FACES_DIR", DEFAULT_FACES)).resolve()
