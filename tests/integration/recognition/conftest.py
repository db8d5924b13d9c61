"""A recognition-ready app: the embedded vector index + local object store in the test data dir, 128-D
vectors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from tests.integration.api import Api, face_event, system_admin_api

from appliance.config import Settings
from appliance.server.app import create_app

DIM = 128
REPO = Path(__file__).resolve().parents[3]
MODELS_DIR = Path(os.environ.get("APPLIANCE_MODELS_DIR") or REPO.parent / "shared" / "models")
FACES_DIR = REPO.parent / "shared" / "faces"


@pytest.fixture(scope="session")
def rec_settings(pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return msgspec.structs.replace(
        pg_settings,
        embedding_dim=DIM,
        data_dir=str(tmp_path_factory.mktemp("rec-data")),
        scheduler=False,
        models_dir=str(MODELS_DIR),
    )


@pytest.fixture(scope="session")
def rec_client(rec_settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(rec_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def rec_api(rec_client: TestClient[Litestar], rec_settings: Settings) -> Api:
    return system_admin_api(rec_client, rec_settings)


class Shop:
    """A tenant with one site, one camera and an edge worker logged in with an API key."""

    def __init__(self, api: Api) -> None:
        made = api.new_tenant(f"shop-{uuid.uuid4().hex[:8]}")
        self.tenant, self.site, self.admin = made["tenant"], made["site"], made["admin"]
        self.camera = self.admin.ok(
            "POST", "/v1/cameras", 201, json={"site_id": self.site["id"], "name": "door", "source": "0"}
        )
        key = self.admin.ok("POST", "/v1/api-keys", 201, json={"site_id": self.site["id"]})
        token = api.client.post("/v1/auth/token", json={"grant_type": "api_key", "api_key": key["api_key"]})
        self.worker = Api(api.client, token.json()["access_token"])

    def event(
        self, vector: np.ndarray[Any, Any], at: str = "2026-11-20T10:00:00+01:00", **extra: Any
    ) -> dict[str, Any]:
        return face_event(self.site["id"], self.camera["id"], vector, at, **extra)

    def post(self, body: dict[str, Any], status: int = 200) -> Any:
        return self.worker.ok("POST", "/v1/events/face", status, json=body)


@pytest.fixture
def shop(rec_api: Api) -> Shop:
    return Shop(rec_api)


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray[Any, Any]:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def near(base: np.ndarray[Any, Any], cosine: float, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A unit vector with exactly the given cosine similarity to ``base``."""
    noise = rng.standard_normal(base.shape[0])
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    return cosine * base + np.sqrt(1 - cosine**2) * noise
