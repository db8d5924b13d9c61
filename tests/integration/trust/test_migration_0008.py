"""Migration 0008 repairs unreadable instants stored before it, then keeps them out; event ids
become per-tenant keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from alembic import command

from appliance.config import load_settings
from appliance.db.engine import make_sync_engine
from appliance.db.migrate import alembic_config, run_migrations

BC = "0001-01-01T00:00:00+14:00"  # year 0 in UTC: the driver cannot load it
FAR = "2999-01-01T00:00:00Z"
SIGHTING = (
    "INSERT INTO sightings (id, tenant_id, site_id, customer_id, visit_id, captured_at, received_at,"
    " embedding, det_score, quality, uncertain, is_staff, is_new_customer, model, response)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, '\\x3f000000'::bytea, 0.9, 0.8, false, false, true, 't', '{}')"
)


@pytest.fixture
def owner() -> Iterator[tuple[Any, Any]]:
    """A fresh database migrated to 0007, its owner connection (alembic config, raw psycopg)."""
    name = f"appliance_mig8_{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        env={}, database_url=f"postgresql://postgres@127.0.0.1:5432/{name}", app_role=name
    )
    run_migrations(settings)
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
            yield cfg, conn.connection.driver_connection
    finally:
        engine.dispose()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f"DROP ROLE IF EXISTS {name}")


def test_unreadable_instants_are_repaired_then_refused(owner: tuple[Any, Any]) -> None:
    cfg, raw = owner
    tenant, site, customer, visit, event = (uuid.uuid4() for _ in range(5))
    raw.execute("INSERT INTO tenants (id, name) VALUES (%s, 'mig8')", (tenant,))
    raw.execute(
        "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 's', 'UTC')", (site, tenant)
    )
    raw.execute(
        "INSERT INTO customers (id, tenant_id, first_seen, last_seen) VALUES (%s, %s, %s, %s)",
        (customer, tenant, BC, FAR),
    )
    raw.execute(
        "INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, now())",
        (visit, tenant, site, customer, BC, FAR),
    )
    received = "2026-12-01T10:00:00Z"
    raw.execute(SIGHTING, (event, tenant, site, customer, visit, BC, received))

    command.upgrade(cfg, "0008")
    # Readable again, in UTC text so the check does not depend on the driver's loader.
    row = raw.execute(
        "SELECT s.captured_at = s.received_at, v.first_seen = s.captured_at AND v.last_seen = s.captured_at,"
        " c.first_seen = v.first_seen AND c.last_seen = v.last_seen"
        " FROM sightings s JOIN visits v ON v.id = s.visit_id JOIN customers c ON c.id = v.customer_id"
    ).fetchone()
    assert row == (True, True, True)
    raw.execute("SAVEPOINT s")
    with pytest.raises(psycopg.errors.CheckViolation):
        raw.execute("UPDATE sightings SET captured_at = %s", (BC,))
    raw.execute("ROLLBACK TO SAVEPOINT s")

    # The same event id in a second tenant is another event now.
    other, other_site = uuid.uuid4(), uuid.uuid4()
    raw.execute("INSERT INTO tenants (id, name) VALUES (%s, 'mig8b')", (other,))
    raw.execute(
        "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 's', 'UTC')", (other_site, other)
    )
    raw.execute(SIGHTING, (event, other, other_site, None, None, received, received))
    assert raw.execute("SELECT count(*) FROM sightings WHERE id = %s", (event,)).fetchone() == (2,)
