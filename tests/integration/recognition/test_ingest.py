"""POST /v1/events/face end to end on PostgreSQL + Milvus Lite: matching, visits, idempotency,
validation, staff, concurrency."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg
import pytest
from tests.integration.recognition.conftest import DIM, Shop, near, unit

from appliance.config import Settings
from appliance.db.types import embedding_bytes


def count(settings: Settings, table: str, tenant_id: str) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (tenant_id,)).fetchone()
        assert row is not None
        return int(row[0])


def test_new_returning_and_visit_folding(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(1)
    alice = unit(rng)
    first = shop.post(shop.event(alice, "2026-11-20T10:00:00+01:00"))
    assert first["is_new_customer"] and not first["is_staff"] and first["similarity"] is None
    same_visit = shop.post(shop.event(near(alice, 0.9, rng), "2026-11-20T10:05:00+01:00"))
    assert same_visit["customer_id"] == first["customer_id"]
    assert same_visit["visit_id"] == first["visit_id"]
    assert not same_visit["is_new_customer"] and same_visit["similarity"] >= 0.89
    later = shop.post(shop.event(near(alice, 0.8, rng), "2026-11-20T14:00:00+01:00"))
    assert later["customer_id"] == first["customer_id"] and later["visit_id"] != first["visit_id"]
    bob = shop.post(shop.event(unit(rng), "2026-11-20T10:01:00+01:00"))
    assert bob["is_new_customer"] and bob["customer_id"] != first["customer_id"]

    visits = shop.admin.ok("GET", "/v1/visits")["items"]
    by_id = {v["visit_id"]: v for v in visits}
    assert len(visits) == 3
    assert by_id[first["visit_id"]]["sightings"] == 2
    assert by_id[first["visit_id"]]["is_new_customer"] is True
    assert by_id[later["visit_id"]]["is_new_customer"] is False
    customer = shop.admin.ok("GET", f"/v1/customers/{first['customer_id']}")
    assert customer["visit_count"] == 2 and customer["exemplar_count"] >= 1
    assert count(rec_settings, "sightings", shop.tenant["id"]) == 4


def test_a_new_face_is_recorded_with_its_customer_as_a_matched_one_would_be(
    shop: Shop, rec_settings: Settings
) -> None:
    """A new customer's event is written in its creation transaction (one transaction, not
    two): the customer, its first visit and the sighting carry what the event's own write would
    have given them."""
    rng = np.random.default_rng(5)
    at = "2026-11-20T10:00:00+01:00"
    answer = shop.post(shop.event(unit(rng), at, gender="female", age=34.0))
    assert answer["is_new_customer"] and answer["visit_id"] and answer["similarity"] is None
    with psycopg.connect(rec_settings.database_url) as conn:
        customer = conn.execute(
            "SELECT visit_count, exemplar_count, first_seen, last_seen, gender, age FROM customers"
            " WHERE id = %s",
            (answer["customer_id"],),
        ).fetchone()
        visit = conn.execute(
            "SELECT customer_id, site_id, first_seen, last_seen, sightings, is_new_customer, gender, age"
            " FROM visits WHERE id = %s",
            (answer["visit_id"],),
        ).fetchone()
        sighting = conn.execute(
            "SELECT customer_id, visit_id, camera_id, is_new_customer, is_staff, uncertain, response"
            " FROM sightings WHERE id = (SELECT sighting_id FROM customer_exemplars WHERE customer_id = %s)",
            (answer["customer_id"],),
        ).fetchone()
    assert customer is not None and visit is not None and sighting is not None
    seen = customer[2]
    assert customer == (1, 1, seen, seen, "female", 34.0) and seen.isoformat() == "2026-11-20T09:00:00+00:00"
    assert visit == (
        uuid.UUID(answer["customer_id"]),
        uuid.UUID(shop.site["id"]),
        seen,
        seen,
        1,
        True,
        "female",
        34.0,
    )
    assert sighting[:6] == (
        uuid.UUID(answer["customer_id"]),
        uuid.UUID(answer["visit_id"]),
        uuid.UUID(shop.camera["id"]),
        True,
        False,
        False,
    )
    assert sighting[6] == answer  # a retry replays exactly this


def test_a_redelivery_with_another_new_face_gets_the_first_answer(shop: Shop, rec_settings: Settings) -> None:
    """The creation batch cannot record an event that is recorded already (its sighting exists): it
    answers with the stored answer and creates nothing — no customer without a visit is left behind."""
    rng = np.random.default_rng(6)
    body = shop.event(unit(rng))
    first = shop.post(body)
    again = shop.post({**body, "embedding": [float(x) for x in unit(rng)]})  # unseen: a new face
    assert again == first
    for table in ("sightings", "visits", "customers", "customer_exemplars"):
        assert count(rec_settings, table, shop.tenant["id"]) == 1, table


def test_retry_returns_first_answer_and_writes_nothing(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(2)
    body = shop.event(unit(rng))
    first = shop.post(body)
    again = shop.post(body)
    assert again == first
    assert count(rec_settings, "sightings", shop.tenant["id"]) == 1
    assert count(rec_settings, "customers", shop.tenant["id"]) == 1


def test_uncertain_band_makes_a_new_customer_and_suggests_merge(shop: Shop) -> None:
    """Below the match threshold a face never joins an existing customer: in the uncertain band it
    is a new customer plus a merge suggestion naming the candidate (issue 17)."""
    rng = np.random.default_rng(3)
    carol = unit(rng)
    first = shop.post(shop.event(carol))
    doubt = near(carol, 0.35, rng)
    doubtful = shop.post(shop.event(doubt, "2026-11-20T10:02:00+01:00"))
    assert doubtful["uncertain"] is True
    assert doubtful["is_new_customer"] is True
    assert doubtful["customer_id"] != first["customer_id"]
    assert doubtful["similarity"] == pytest.approx(0.35, abs=0.02)
    suggestions = shop.admin.ok("GET", "/v1/customers/merge-suggestions")
    assert suggestions["total"] == 1
    suggestion = suggestions["items"][0]
    assert suggestion["customer_id"] == doubtful["customer_id"]
    assert suggestion["candidate_id"] == first["customer_id"]
    assert suggestion["similarity"] == pytest.approx(doubtful["similarity"], abs=1e-6)
    # the face's own customer now matches it: a later sighting of it is returning, not doubtful
    again = shop.post(shop.event(near(doubt, 0.9, rng), "2026-11-20T12:00:00+01:00"))
    assert again["uncertain"] is False
    assert again["customer_id"] == doubtful["customer_id"]


def test_bad_events_are_rejected_and_change_nothing(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(4)
    good = unit(rng)
    cases: list[tuple[dict[str, Any], int]] = [
        (shop.event(unit(rng, DIM * 4)), 422),  # wrong dimension for the configured embedder
        (shop.event(good * 2), 422),  # not L2-normalised
        (shop.event(good, camera_id=str(uuid.uuid4())), 422),  # unknown camera
        (shop.event(good, site_id=str(uuid.uuid4())), 403),  # a site outside the key's scope
        (shop.event(good, captured_at="2026-11-20T10:00:00"), 400),  # no UTC offset
        (shop.event(good, det_score=1.5), 400),
        ({"event_id": "nope"}, 400),
    ]
    for body, status in cases:
        response = shop.worker.post("/v1/events/face", json=body)
        assert response.status_code == status, (body.get("captured_at"), response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    raw = shop.worker.post(
        "/v1/events/face",
        content=b'{"embedding": [NaN]}',
        headers={"content-type": "application/json"},
    )
    assert raw.status_code == 400
    for table in ("sightings", "customers", "visits"):
        assert count(rec_settings, table, shop.tenant["id"]) == 0


def test_only_workers_may_ingest(shop: Shop) -> None:
    body = shop.event(unit(np.random.default_rng(5)))
    assert shop.admin.post("/v1/events/face", json=body).status_code == 403


def test_staff_never_become_customers(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(6)
    face = unit(rng)
    staff = shop.admin.ok("POST", "/v1/staff", 201, json={"name": "Till", "site_ids": [shop.site["id"]]})
    with psycopg.connect(rec_settings.database_url) as conn:
        conn.execute(
            "INSERT INTO staff_embeddings (id, tenant_id, staff_id, embedding, created_at)"
            " VALUES (gen_random_uuid(), %s, %s, %s, now())",
            (shop.tenant["id"], staff["id"], embedding_bytes(face)),
        )
    seen = shop.post(shop.event(near(face, 0.9, rng)))
    assert seen["is_staff"] and seen["staff_id"] == staff["id"] and seen["customer_id"] is None
    local = shop.post(shop.event(unit(rng), is_staff_local=True))
    assert local["is_staff"] and local["customer_id"] is None
    assert count(rec_settings, "customers", shop.tenant["id"]) == 0
    assert count(rec_settings, "visits", shop.tenant["id"]) == 0


def test_simultaneous_first_events_of_one_person_make_one_customer(
    shop: Shop, rec_settings: Settings
) -> None:
    rng = np.random.default_rng(7)
    dave = unit(rng)
    bodies = [shop.event(near(dave, 0.95, rng), f"2026-11-20T10:00:0{i}+01:00") for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(shop.post, bodies))
    assert len({a["customer_id"] for a in answers}) == 1
    assert sum(a["is_new_customer"] for a in answers) == 1
    assert count(rec_settings, "customers", shop.tenant["id"]) == 1
    assert count(rec_settings, "visits", shop.tenant["id"]) == 1


def test_what_another_process_commits_is_matched_at_the_next_event(
    shop: Shop, rec_settings: Settings
) -> None:
    """Exemplars written and deleted by another API process (straight in PostgreSQL here) are seen
    by this process's next event: the change cursor is read in the ingest's own transaction."""
    import asyncio

    from appliance.db.engine import Database, make_async_engine
    from appliance.domain.events import statements

    rng = np.random.default_rng(11)
    tenant = uuid.UUID(shop.tenant["id"])
    shop.post(shop.event(unit(rng)))  # this process holds the tenant's vectors from here on
    face = unit(rng)
    customer = uuid.uuid4()

    async def elsewhere(sql: str | None = None) -> None:
        db = Database(make_async_engine(rec_settings.runtime_database_url, 2))
        try:
            async with db.fast_transaction(tenant) as tx:
                if sql is None:
                    await tx.execute(
                        statements.INSERT_FIRST_EXEMPLARS,
                        {
                            "customer_ids": [customer],
                            "tenant_id": tenant,
                            "exemplar_ids": [uuid.uuid4()],
                            "event_ids": [uuid.uuid4()],
                            "embeddings": [embedding_bytes(face)],
                            "qualities": [0.8],
                        },
                    )
                else:
                    await tx.execute(sql, {"customer_id": customer})
        finally:
            await db.dispose()

    asyncio.run(elsewhere())
    seen = shop.post(shop.event(near(face, 0.9, rng)))
    assert seen["customer_id"] == str(customer)
    assert seen["is_new_customer"] is False

    asyncio.run(elsewhere("DELETE FROM customers WHERE id = %(customer_id)s"))  # erased elsewhere
    again = shop.post(shop.event(near(face, 0.9, rng)))
    assert again["customer_id"] != str(customer)
    assert again["is_new_customer"] is True


def test_concurrent_deliveries_of_one_event_write_it_once(shop: Shop, rec_settings: Settings) -> None:
    """An edge retrying while its first delivery is still in flight: one sighting, one answer."""
    rng = np.random.default_rng(12)
    erin = unit(rng)
    first = shop.post(shop.event(erin, "2026-11-20T09:00:00+01:00"))
    repeat = shop.event(near(erin, 0.9, rng), "2026-11-20T09:10:00+01:00")
    newcomer = shop.event(unit(rng), "2026-11-20T09:11:00+01:00")
    for body in (repeat, newcomer):
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(shop.post, [body] * 8))
        assert all(a == answers[0] for a in answers)
    with psycopg.connect(rec_settings.database_url) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM sightings WHERE tenant_id = %s", (shop.tenant["id"],)
        ).fetchone()
        visits = conn.execute(
            "SELECT sum(sightings) FROM visits WHERE tenant_id = %s", (shop.tenant["id"],)
        ).fetchone()
    assert rows == (3, 3)
    assert visits is not None and visits[0] == 3  # the losers rolled their visit update back
    assert first["customer_id"] != answers[0]["customer_id"]


def test_concurrent_new_faces_are_created_in_batches_one_customer_per_person(
    shop: Shop, rec_settings: Settings
) -> None:
    """New faces arriving together share creation transactions (newcomers.py): several people,
    each seen several times at once, still make one customer each; an event from an unknown
    camera in the same batch fails alone and writes nothing."""
    rng = np.random.default_rng(21)
    people = [unit(rng) for _ in range(4)]
    bodies = [
        (person, shop.event(near(face, 0.95, rng), f"2026-11-20T11:00:{i:02d}+01:00"))
        for i, (person, face) in enumerate((p, f) for p, f in enumerate(people) for _ in range(3))
    ]
    stray = shop.event(unit(rng), "2026-11-20T11:00:30+01:00", camera_id=str(uuid.uuid4()))

    def post(item: tuple[int, dict[str, Any]]) -> tuple[int, Any]:
        person, body = item
        return person, shop.post(body)

    with ThreadPoolExecutor(max_workers=13) as pool:
        stray_answer = pool.submit(shop.worker.request, "POST", "/v1/events/face", json=stray)
        answers = list(pool.map(post, bodies))
    by_person: dict[int, set[str]] = {}
    for person, answer in answers:
        by_person.setdefault(person, set()).add(answer["customer_id"])
    assert all(len(ids) == 1 for ids in by_person.values()), answers
    assert len(set.union(*by_person.values())) == len(people)
    assert sum(answer["is_new_customer"] for _, answer in answers) == len(people)
    response = stray_answer.result()
    assert response.status_code == 422 and "camera_id" in response.text
    assert count(rec_settings, "customers", shop.tenant["id"]) == len(people)
    assert count(rec_settings, "customer_exemplars", shop.tenant["id"]) >= len(people)
    assert count(rec_settings, "sightings", shop.tenant["id"]) == len(bodies)


def test_ingest_stages_are_measured_for_operators(shop: Shop) -> None:
    """/metrics tells where events spend their time (runbook: ingest-latency.md)."""

    def counts() -> dict[str, float]:
        text = shop.admin.client.get("/metrics").text
        found = {}
        for line in text.splitlines():
            for stage in ("search", "new_customer", "record"):
                if line.startswith(f'appliance_ingest_stage_seconds_count{{stage="{stage}"}}'):
                    found[stage] = float(line.split()[-1])
            for name in ("appliance_vector_search_batch_queries", "appliance_new_customer_batch_faces"):
                if line.startswith(f"{name}_count "):
                    found[name] = float(line.split()[-1])
        return found

    before = counts()
    rng = np.random.default_rng(31)
    face = unit(rng)
    shop.post(shop.event(face))  # new
    shop.post(shop.event(near(face, 0.9, rng)))  # returning
    after = counts()
    grew = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    # a new face is recorded in its creation transaction: no record stage of its own
    assert grew["search"] == 2 and grew["record"] == 1 and grew["new_customer"] == 1
    assert grew["appliance_vector_search_batch_queries"] >= 1
    assert grew["appliance_new_customer_batch_faces"] == 1
