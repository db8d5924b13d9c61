"""The review queue of likely duplicates: both faces, similarity and visit counts; accept = an
audited merge (undone by a split); dismiss = remembered for the pair (issue 17)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg
import pytest
from tests.integration.recognition.conftest import Shop, near, unit
from tests.integration.recognition.test_identity import JPEG

from appliance.config import Settings
from appliance.domain.events.statements import INSERT_SUGGESTION


def with_snapshot(shop: Shop, body: dict[str, Any]) -> dict[str, Any]:
    upload = shop.worker.ok(
        "POST",
        "/v1/events/snapshot-url",
        200,
        json={"event_id": body["event_id"], "camera_id": shop.camera["id"]},
    )
    put = shop.worker.client.put(upload["upload_url"], content=JPEG, headers=upload["headers"])
    assert put.status_code in (200, 201, 204), put.text
    return {**body, "snapshot_key": upload["snapshot_key"]}


def doubtful_pair(shop: Shop, seed: int) -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(seed)
    carol = unit(rng)
    first = shop.post(with_snapshot(shop, shop.event(carol)))
    shop.post(shop.event(near(carol, 0.9, rng), "2026-11-20T12:00:00+01:00"))  # a second visit
    look_alike = near(carol, 0.35, rng)
    doubt = shop.post(with_snapshot(shop, shop.event(look_alike, "2026-11-20T14:00:00+01:00")))
    assert doubt["uncertain"] and doubt["customer_id"] != first["customer_id"]
    return first, doubt, carol


def test_the_queue_shows_both_faces_similarity_and_visits(shop: Shop) -> None:
    first, doubt, _ = doubtful_pair(shop, 41)
    page = shop.admin.ok("GET", "/v1/customers/merge-suggestions")
    assert page["total"] == 1
    (item,) = page["items"]
    assert item["customer"]["customer_id"] == doubt["customer_id"] and item["customer"]["visit_count"] == 1
    assert item["candidate"]["customer_id"] == first["customer_id"] and item["candidate"]["visit_count"] == 2
    assert item["similarity"] == pytest.approx(0.35, abs=0.02)
    # both best snapshots are reachable through the visits API
    for face in (item["customer"], item["candidate"]):
        link = shop.admin.ok("GET", f"/v1/visits/{face['snapshot_visit_id']}/snapshot")
        assert shop.admin.client.get(link["url"]).content == JPEG


def test_merge_candidates_carry_faces_similarity_and_the_warning_band(shop: Shop) -> None:
    first, doubt, _ = doubtful_pair(shop, 42)
    stranger = shop.post(shop.event(unit(np.random.default_rng(99)), "2026-11-20T16:00:00+01:00"))
    alike = shop.admin.ok("GET", f"/v1/customers/{doubt['customer_id']}/merge-candidates")
    assert alike[0]["customer"]["customer_id"] == first["customer_id"]
    assert alike[0]["similarity"] == pytest.approx(doubt["similarity"], abs=1e-4)
    assert alike[0]["below_match"] is True and alike[0]["below_uncertain"] is False
    assert alike[0]["customer"]["visit_count"] == 2 and alike[0]["customer"]["snapshot_visit_id"]
    named = shop.admin.ok(
        "GET",
        f"/v1/customers/{doubt['customer_id']}/merge-candidates",
        params={"ids": [stranger["customer_id"]]},
    )
    assert [c["customer"]["customer_id"] for c in named] == [stranger["customer_id"]]
    assert named[0]["below_uncertain"] is True
    missing = shop.admin.get(f"/v1/customers/{uuid.uuid4()}/merge-candidates")
    assert missing.status_code == 404


def test_accept_merges_audited_and_a_split_undoes_it(shop: Shop, rec_settings: Settings) -> None:
    first, doubt, _ = doubtful_pair(shop, 43)
    (item,) = shop.admin.ok("GET", "/v1/customers/merge-suggestions")["items"]
    merged = shop.admin.ok("POST", f"/v1/customers/merge-suggestions/{item['id']}/accept")
    assert merged["customer_id"] == first["customer_id"] and merged["visit_count"] == 3
    assert shop.admin.get(f"/v1/customers/{doubt['customer_id']}").status_code == 404
    audit = shop.admin.ok("GET", "/v1/audit", params={"action": "customer.merge"})["items"]
    assert audit[0]["details"]["merged"] == [doubt["customer_id"]]
    assert shop.admin.post(f"/v1/customers/merge-suggestions/{item['id']}/accept").status_code == 404
    assert shop.admin.ok("GET", "/v1/customers/merge-suggestions")["total"] == 0
    # undo from the dashboard: the doubtful face's visit goes back to a customer of its own
    split = shop.admin.ok(
        "POST", f"/v1/customers/{first['customer_id']}/split", 201, json={"visit_ids": [doubt["visit_id"]]}
    )
    assert split["visit_count"] == 1 and split["customer_id"] != first["customer_id"]
    assert shop.admin.ok("GET", f"/v1/customers/{first['customer_id']}")["visit_count"] == 2
    moved = shop.admin.ok("GET", "/v1/visits", params={"customer_id": split["customer_id"]})["items"]
    assert [v["customer_id"] for v in moved] == [split["customer_id"]]
    assert shop.admin.ok("GET", "/v1/audit", params={"action": "customer.split"})["total"] == 1
    # a visit of another customer, or nothing named: refused, nothing changed
    other = shop.admin.post(
        f"/v1/customers/{first['customer_id']}/split", json={"visit_ids": [moved[0]["visit_id"]]}
    )
    assert other.status_code == 422
    assert shop.admin.post(f"/v1/customers/{first['customer_id']}/split", json={}).status_code == 422


def test_dismiss_is_remembered_for_the_pair(shop: Shop, rec_settings: Settings) -> None:
    first, doubt, _ = doubtful_pair(shop, 44)
    (item,) = shop.admin.ok("GET", "/v1/customers/merge-suggestions")["items"]
    # the same pair suggested the other way round too (e.g. by an earlier doubtful face)
    with psycopg.connect(rec_settings.database_url) as conn:
        conn.execute(
            "INSERT INTO merge_suggestions (id, tenant_id, customer_id, candidate_id, similarity, status,"
            " created_at) VALUES (%s, %s, %s, %s, 0.33, 'open', now())",
            (uuid.uuid4(), shop.tenant["id"], first["customer_id"], doubt["customer_id"]),
        )
    assert shop.admin.ok("GET", "/v1/customers/merge-suggestions")["total"] == 2
    dismissed = shop.admin.ok("POST", f"/v1/customers/merge-suggestions/{item['id']}/dismiss")
    assert dismissed["status"] == "dismissed"
    assert shop.admin.ok("GET", "/v1/customers/merge-suggestions")["total"] == 0
    assert (
        shop.admin.ok("GET", "/v1/customers/merge-suggestions", params={"status": "dismissed"})["total"] == 2
    )
    assert shop.admin.post(f"/v1/customers/merge-suggestions/{item['id']}/accept").status_code == 409
    # ingest's own statement does not write a dismissed pair again (either way round)
    with psycopg.connect(rec_settings.database_url) as conn:
        cursor = conn.execute(
            INSERT_SUGGESTION,
            {
                "suggestion_id": uuid.uuid4(),
                "tenant_id": shop.tenant["id"],
                "customer_id": doubt["customer_id"],
                "candidate_id": first["customer_id"],
                "event_id": None,
                "suggestion_similarity": 0.36,
            },
        )
        assert cursor.rowcount == 0
    assert shop.admin.ok("GET", "/v1/customers/merge-suggestions")["total"] == 0


def test_simultaneous_doubtful_faces_of_one_new_person_make_one_customer_and_one_suggestion(
    shop: Shop, rec_settings: Settings
) -> None:
    rng = np.random.default_rng(45)
    carol = unit(rng)
    first = shop.post(shop.event(carol))
    look_alike = near(carol, 0.35, rng)  # someone new, in carol's uncertain band
    bodies = [shop.event(near(look_alike, 0.97, rng), f"2026-11-20T11:00:0{i}+01:00") for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(shop.post, bodies))
    created = {a["customer_id"] for a in answers}
    assert len(created) == 1 and first["customer_id"] not in created
    assert sum(a["is_new_customer"] for a in answers) == 1
    page = shop.admin.ok("GET", "/v1/customers/merge-suggestions")
    assert page["total"] == 1
    assert page["items"][0]["customer_id"] in created
    assert page["items"][0]["candidate_id"] == first["customer_id"]
