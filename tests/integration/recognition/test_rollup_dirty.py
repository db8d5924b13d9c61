"""Which visit writes mark a rollup day dirty (migration 0012): a new visit, a merge or split, a
deletion — never the per-event update of a visit in progress (``last_seen``, ``sightings``)."""

from __future__ import annotations

import numpy as np
import psycopg
from tests.integration.recognition.conftest import Shop, near, unit

from appliance.config import Settings


def dirty_days(settings: Settings, tenant_id: str) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM rollup_dirty WHERE tenant_id = %s", (tenant_id,)).fetchone()
        assert row is not None
        return int(row[0])


def clear(settings: Settings, tenant_id: str) -> None:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("DELETE FROM rollup_dirty WHERE tenant_id = %s", (tenant_id,))


def test_only_writes_that_change_a_rollup_mark_it_dirty(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(12)
    tenant = shop.tenant["id"]
    face, other = unit(rng), unit(rng)
    first = shop.post(shop.event(face, at="2026-11-20T10:00:00+01:00"))
    assert dirty_days(rec_settings, tenant) == 1  # a new visit

    clear(rec_settings, tenant)
    again = shop.post(shop.event(near(face, 0.9, rng), at="2026-11-20T10:05:00+01:00"))
    assert again["visit_id"] == first["visit_id"]  # the same visit, extended
    assert dirty_days(rec_settings, tenant) == 0

    stranger = shop.post(shop.event(other, at="2026-11-20T10:06:00+01:00"))
    clear(rec_settings, tenant)
    shop.admin.ok(
        "POST",
        f"/v1/customers/{first['customer_id']}/merge",
        200,
        json={"source_ids": [stranger["customer_id"]]},
    )
    assert dirty_days(rec_settings, tenant) == 1  # a merge moves a visit to another customer
