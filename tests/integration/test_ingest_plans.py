"""The ingest's per-customer read on a database the planner knows nothing about yet (a new install
before autovacuum's first ANALYZE, a restored one): as the runtime role, under row-level
security, on the generic plan the fast path forces, it reads a handful of pages however many
visits and exemplars the tenant holds (migration 0014)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from appliance.config import Settings, load_settings
from appliance.db.migrate import run_migrations
from appliance.domain.events import statements
from tests.conftest import PG_ADMIN_URL

CUSTOMERS = 20_000


@pytest.fixture(scope="module")
def fresh_settings() -> Iterator[Settings]:
    name = f"appliance_plans_{uuid.uuid4().hex[:8]}"
    settings = load_settings(env={}, database_url=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", app_role=name)
    run_migrations(settings)
    try:
        yield settings
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f"DROP ROLE IF EXISTS {name}")


def _seed(settings: Settings) -> tuple[uuid.UUID, uuid.UUID]:
    """A tenant with one site and CUSTOMERS customers, each with a visit and an exemplar."""
    tenant, site = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(settings.database_url, autocommit=True) as owner:
        owner.execute("INSERT INTO tenants (id, name) VALUES (%s, 'plans')", (tenant,))
        owner.execute(
            "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 'door', 'UTC')", (site, tenant)
        )
        params = {"tenant": tenant, "site": site, "n": CUSTOMERS}
        owner.execute(
            "INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, first_seen, last_seen)"
            " SELECT md5(i::text)::uuid, %(tenant)s, 1, 1, now() - i * interval '1 min',"
            " now() - i * interval '1 min' FROM generate_series(1, %(n)s) i",
            params,
        )
        owner.execute(
            "INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, sightings,"
            " is_new_customer) SELECT gen_random_uuid(), %(tenant)s, %(site)s, md5(i::text)::uuid,"
            " now() - i * interval '1 min', now() - i * interval '1 min', 1, true"
            " FROM generate_series(1, %(n)s) i",
            params,
        )
        owner.execute(
            "INSERT INTO customer_exemplars (id, tenant_id, customer_id, embedding, quality, created_at)"
            " SELECT gen_random_uuid(), %(tenant)s, md5(i::text)::uuid, decode(repeat('3f', 2048), 'hex'),"
            " 0.8, now() FROM generate_series(1, %(n)s) i",
            params,
        )
        analysed = owner.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename IN ('visits', 'customer_exemplars')"
        ).fetchone()
        assert analysed == (0,), "the tables must have no statistics for this test"
    return tenant, site


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_returning_customers_read_touches_a_few_pages_without_statistics(fresh_settings: Settings) -> None:
    tenant, site = _seed(fresh_settings)
    customer = uuid.UUID(hex=hashlib.md5(b"7").hexdigest())  # seeded as i = 7
    statement = statements.OPEN_VISIT_AND_EXEMPLARS
    values = {"customer_id": customer, "site_id": site, "captured_at": datetime.now(UTC), "tenant_id": tenant}
    with psycopg.connect(fresh_settings.runtime_database_url, autocommit=True) as app:
        app.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        app.execute("SET plan_cache_mode = force_generic_plan")  # as the fast path's context does
        app.execute(statement.prepare_sql())
        explained = app.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement.execute_sql(values)
        ).fetchone()
        row = app.execute(statement.execute_sql(values)).fetchone()
    assert explained is not None and row is not None
    plan = (explained[0] if isinstance(explained[0], list) else json.loads(explained[0]))[0]["Plan"]
    nodes = list(_plan_nodes(plan))
    read = {node["Relation Name"] for node in nodes if "Relation Name" in node}
    assert read == {"tenants", "visits", "customer_exemplars"}
    # no index of the tenant's or the site's rows: only those that hold every equality of the read
    indexes = {node["Index Name"] for node in nodes if "Index Name" in node}
    assert indexes == {
        "pk_tenants",
        "ix_visits_customer_tenant_site_last_seen",
        "ix_customer_exemplars_customer_tenant",
    }
    touched = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    assert touched < 60, f"{touched} pages for one customer of {CUSTOMERS:,}"
    visit_id, exemplar_ids, embeddings, qualities = row
    assert visit_id is not None  # its one visit ended 7 minutes ago, within the 30-minute gap
    assert len(exemplar_ids) == 1 and len(embeddings) == 2048 and qualities == [0.8]
