"""A tenant's index holds one embedder's vectors: an event of another model is refused with a clear
problem body and changes nothing (issue 17)."""

from __future__ import annotations

import numpy as np
import psycopg
from tests.integration.recognition.conftest import Shop, unit
from tests.integration.recognition.test_ingest import count

from appliance.config import Settings


def test_the_first_event_pins_the_model_and_another_model_gets_422(
    shop: Shop, rec_settings: Settings
) -> None:
    rng = np.random.default_rng(31)
    face = unit(rng)
    first = shop.post(shop.event(face))
    with psycopg.connect(rec_settings.database_url) as conn:
        row = conn.execute("SELECT embedder FROM tenants WHERE id = %s", (shop.tenant["id"],)).fetchone()
    assert row == ("stand-in@test",)

    other = shop.event(face, "2026-11-20T10:05:00+01:00", model={"name": "sface", "version": "2021dec"})
    response = shop.worker.post("/v1/events/face", json=other)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["field"] == "model"
    assert "stand-in@test" in problem["detail"] and "sface@2021dec" in problem["detail"]
    assert "model-change.md" in problem["detail"]
    # a new version of the same model is another model too
    newer = shop.event(face, "2026-11-20T10:06:00+01:00", model={"name": "stand-in", "version": "test2"})
    assert shop.worker.post("/v1/events/face", json=newer).status_code == 422
    for table in ("sightings", "customers", "visits"):
        assert count(rec_settings, table, shop.tenant["id"]) == 1
    # the tenant's own model goes on as before
    again = shop.post(shop.event(face, "2026-11-20T10:07:00+01:00"))
    assert again["customer_id"] == first["customer_id"]


def test_each_tenant_has_its_own_model(shop: Shop, rec_api: object) -> None:
    from tests.integration.api import Api

    assert isinstance(rec_api, Api)
    other_shop = Shop(rec_api)
    rng = np.random.default_rng(32)
    shop.post(shop.event(unit(rng)))
    answer = other_shop.post(other_shop.event(unit(rng), model={"name": "sface", "version": "2021dec"}))
    assert answer["is_new_customer"] is True
