"""A session that holds a tenant's new-customer lock and goes silent (its client gone without
PostgreSQL being told) must not stall that tenant's ingest for ever: a new face waits
``LOCK_WAIT_LIMIT`` at most, then gets 503 + Retry-After (the edge retries) with nothing stored;
and the fast path's own transactions carry ``IDLE_TRANSACTION_LIMIT``, so PostgreSQL ends such
a session of ours by itself and frees its locks."""

from __future__ import annotations

import time
import uuid

import numpy as np
import psycopg
import pytest

from appliance.config import Settings
from appliance.db.engine import CONTEXT, IDLE_TRANSACTION_LIMIT, LOCK_WAIT_LIMIT, context_params
from appliance.domain.events.newcomers import tenant_lock_key
from tests.faults.conftest import owner_rows, recent
from tests.integration.recognition.conftest import Shop, unit

pytestmark = pytest.mark.timeout(120)


def seconds(limit: str) -> float:
    assert limit.endswith("s")
    return float(limit[:-1])


def test_a_held_new_customer_lock_answers_503_and_stores_nothing(
    fshop: Shop, fault_settings: Settings
) -> None:
    tenant = uuid.UUID(fshop.tenant["id"])
    body = fshop.event(unit(np.random.default_rng(55)), recent())
    with psycopg.connect(fault_settings.runtime_database_url, autocommit=True) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [tenant_lock_key(tenant)])
        started = time.monotonic()
        response = fshop.worker.post("/v1/events/face", json=body)
        waited = time.monotonic() - started
        holder.execute("ROLLBACK")
    assert response.status_code == 503, response.text
    assert response.headers.get("Retry-After")
    assert response.json()["title"]
    assert seconds(LOCK_WAIT_LIMIT) - 1 <= waited < seconds(LOCK_WAIT_LIMIT) + 10
    stored = owner_rows(fault_settings, "SELECT count(*) FROM sightings WHERE id = %s", body["event_id"])
    assert stored == [(0,)]
    customers = owner_rows(fault_settings, "SELECT count(*) FROM customers WHERE tenant_id = %s", tenant)
    assert customers == [(0,)]
    # the edge's retry, with the lock free, is stored
    answer = fshop.post(body)
    assert answer["is_new_customer"] is True


def test_the_fast_path_context_bounds_lock_waits_and_idle_transactions(fault_settings: Settings) -> None:
    with psycopg.connect(fault_settings.runtime_database_url, autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute(CONTEXT.inline_sql(context_params(uuid.uuid4())))
        lock = conn.execute("SHOW lock_timeout").fetchone()
        idle = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()
        conn.execute("ROLLBACK")
        after = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()
    assert lock == (LOCK_WAIT_LIMIT,)
    assert idle == (IDLE_TRANSACTION_LIMIT,)
    assert after == ("0",)  # transaction-local: a pooled connection keeps no bound of ours
