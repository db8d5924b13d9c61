"""Tenant isolation, proven on the real database as the real runtime role — and through the API.

The raw-SQL tests connect as the runtime role (non-owner, NOBYPASSRLS) exactly like the API does
and set the tenant the way ``Database.transaction`` does (``set_config(..., true)`` inside a
transaction). The owner connection (a superuser, which bypasses RLS) is used only to seed rows
that have no API yet (visits) and to observe the ground truth.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors as pg_errors

from appliance.config import Settings
from appliance.db.base import TENANT_SCOPED_TABLES
from tests.integration.api import PASSWORD, Api

SET_CONTEXT = (
    "SELECT set_config('app.tenant_id', %s, true), set_config('app.platform_admin', %s, true),"
    " set_config('app.login_username', %s, true)"
)


# -- connections and context ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def owner(pg_settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_settings.database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def runtime(pg_settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_settings.runtime_database_url, autocommit=True) as conn:
        yield conn


@contextmanager
def acting(
    conn: psycopg.Connection[Any],
    tenant_id: str | None,
    *,
    platform_admin: bool = False,
    login_username: str | None = None,
    rollback: bool = False,
) -> Iterator[psycopg.Connection[Any]]:
    """One transaction with the RLS context set exactly as the runtime sets it."""
    with conn.transaction(force_rollback=rollback):
        conn.execute(SET_CONTEXT, [tenant_id or "", "on" if platform_admin else "", login_username or ""])
        yield conn


def ids_of(owner: psycopg.Connection[Any], table: str, tenant_id: str) -> set[str]:
    """Ground truth, read by the owner (superuser: RLS does not apply)."""
    rows = owner.execute(f"SELECT id::text FROM {table} WHERE tenant_id = %s", [tenant_id]).fetchall()
    return {r[0] for r in rows}


def assert_rls_violation(exc: pytest.ExceptionInfo[pg_errors.InsufficientPrivilege]) -> None:
    assert exc.value.sqlstate == "42501"
    assert "row-level security" in str(exc.value)


# -- two tenants with a row in every tenant-scoped table ---------------------------------------------

# One valid row per table; only the tenant and the rows it references vary. Used by the runtime
# role (the statements under test) and by the owner to seed tables that have no API yet.
INSERTS: dict[str, str] = {
    "sites": "INSERT INTO sites (tenant_id, name, timezone) VALUES (%(tenant)s, %(name)s, 'UTC')",
    "cameras": "INSERT INTO cameras (tenant_id, site_id, name, source)"
    " VALUES (%(tenant)s, %(site)s, %(name)s, '0')",
    "staff": "INSERT INTO staff (tenant_id, name) VALUES (%(tenant)s, %(name)s)",
    "customers": "INSERT INTO customers (tenant_id, display_name) VALUES (%(tenant)s, %(name)s)",
    "visits": "INSERT INTO visits (tenant_id, site_id, customer_id, first_seen, last_seen, created_at)"
    " VALUES (%(tenant)s, %(site)s, %(customer)s, now(), now(), now())",
    "api_keys": "INSERT INTO api_keys (tenant_id, site_id, camera_id, name, secret_hash)"
    " VALUES (%(tenant)s, %(site)s, %(camera)s, %(name)s, repeat('0', 64))",
    "users": "INSERT INTO users (tenant_id, username, password_hash, role)"
    " VALUES (%(tenant)s, %(name)s, 'x', 'tenant_admin')",
    "audit_log": "INSERT INTO audit_log"
    " (tenant_id, actor, actor_role, action, target_type, details, created_at)"
    " VALUES (%(tenant)s, %(name)s, 'tenant_admin', 'test.insert', 'test', '{}', now())",
    "sightings": "INSERT INTO sightings (id, tenant_id, site_id, camera_id, customer_id, visit_id, staff_id,"
    " captured_at, received_at, embedding, det_score, quality, uncertain, is_staff, is_new_customer,"
    " model, response) VALUES (%(id)s, %(tenant)s, %(site)s, %(camera)s, %(customer)s, %(visit)s, %(staff)s,"
    " now(), now(), '\\x3f0000003f000000'::bytea, 0.9, 0.8, false, false, false, 'test', '{}')",
    "customer_exemplars": "INSERT INTO customer_exemplars (tenant_id, customer_id, embedding, quality,"
    " created_at) VALUES (%(tenant)s, %(customer)s, '\\x3f0000003f000000'::bytea, 0.8, now())",
    "staff_embeddings": "INSERT INTO staff_embeddings (tenant_id, staff_id, embedding, created_at)"
    " VALUES (%(tenant)s, %(staff)s, '\\x3f0000003f000000'::bytea, now())",
    "merge_suggestions": "INSERT INTO merge_suggestions"
    " (tenant_id, customer_id, candidate_id, similarity, status, created_at)"
    " VALUES (%(tenant)s, %(customer)s, %(candidate)s, 0.6, 'open', now())",
    "visit_rollups": "INSERT INTO visit_rollups"
    " (id, tenant_id, site_id, granularity, bucket, visits, unique_visitors, new_visitors, refreshed_at)"
    " VALUES (%(id)s, %(tenant)s, %(site)s, 'day', now()::timestamp + random() * interval '9999 days',"
    " 1, 1, 1, now())",
    "rollup_dirty": "INSERT INTO rollup_dirty (id, tenant_id, site_id, day)"
    " VALUES (%(id)s, %(tenant)s, %(site)s, current_date + (random() * 99999)::int)",
    "erasure_jobs": "INSERT INTO erasure_jobs (id, tenant_id, kind, subject_id, requested_by, requested_role)"
    " VALUES (%(id)s, %(tenant)s, 'customer', %(id)s, %(name)s, 'tenant_admin')",
}
# No API writes these yet: the owner seeds them (it is only seeding, never under test). In order.
OWNER_SEEDED = (
    "visits",
    "sightings",
    "customer_exemplars",
    "staff_embeddings",
    "merge_suggestions",
    "visit_rollups",
    "rollup_dirty",
    "erasure_jobs",
)


@dataclass
class Seeded:
    id: str
    admin: Api
    admin_username: str
    refs: dict[str, str]  # site, camera, staff, customer, candidate, api_key, user, visit
    ids: dict[str, set[str]] = field(default_factory=dict)

    def values(self, **overrides: str) -> dict[str, str]:
        """Parameters for one ``INSERTS`` row in this tenant (fresh unique name and id)."""
        return {
            "tenant": self.id,
            "name": f"rls-{uuid.uuid4().hex}",
            "id": str(uuid.uuid4()),
            **self.refs,
            **overrides,
        }


def seed_tenant(api: Api, owner: psycopg.Connection[Any], label: str) -> Seeded:
    created = api.new_tenant(f"rls-{label}-{uuid.uuid4().hex[:8]}")
    admin: Api = created["admin"]
    tenant_id, site = created["tenant"]["id"], created["site"]["id"]
    camera = admin.ok("POST", "/v1/cameras", 201, json={"site_id": site, "name": "Door", "source": "0"})
    staff = admin.ok("POST", "/v1/staff", 201, json={"name": f"Staff {label}", "site_ids": [site]})
    customer = admin.ok("POST", "/v1/customers", 201, json={"display_name": f"Customer {label}"})
    candidate = admin.ok("POST", "/v1/customers", 201, json={"display_name": f"Lookalike {label}"})
    key = admin.ok("POST", "/v1/api-keys", 201, json={"site_id": site, "camera_id": camera["id"]})
    user = admin.ok(
        "POST",
        "/v1/users",
        201,
        json={
            "username": f"mgr-{label}-{uuid.uuid4().hex[:8]}",
            "password": PASSWORD,
            "role": "site_manager",
            "site_ids": [site],
        },
    )
    seeded = Seeded(
        id=tenant_id,
        admin=admin,
        admin_username=created["admin_username"],
        refs={
            "site": site,
            "camera": camera["id"],
            "staff": staff["id"],
            "customer": customer["customer_id"],
            "candidate": candidate["customer_id"],
            "api_key": key["id"],
            "user": user["id"],
        },
    )
    for table in OWNER_SEEDED:
        row = owner.execute(INSERTS[table] + " RETURNING id::text", seeded.values()).fetchone()
        assert row is not None
        if table == "visits":
            seeded.refs["visit"] = row[0]
    seeded.ids = {table: ids_of(owner, table, tenant_id) for table in TENANT_SCOPED_TABLES}
    return seeded


@pytest.fixture(scope="module")
def tenants(api: Api, owner: psycopg.Connection[Any]) -> tuple[Seeded, Seeded]:
    a, b = seed_tenant(api, owner, "a"), seed_tenant(api, owner, "b")
    for seeded in (a, b):
        empty = [table for table, ids in seeded.ids.items() if not ids]
        assert not empty, f"seeding left {empty} without rows"
    return a, b


def test_every_tenant_scoped_table_has_an_insert_case() -> None:
    """A new tenant-scoped table must join these tests (add it to INSERTS, seeded by API or owner)."""
    assert set(INSERTS) == set(TENANT_SCOPED_TABLES)


# -- the runtime role itself ---------------------------------------------------------------------


def test_runtime_role_is_plain(runtime: psycopg.Connection[Any], pg_settings: Settings) -> None:
    row = runtime.execute(
        "SELECT current_user, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row == (pg_settings.app_role, False, False, False, False)
    owned_tables = runtime.execute(
        "SELECT tablename FROM pg_tables WHERE tableowner = current_user"
    ).fetchall()
    assert owned_tables == []
    owned_relations = runtime.execute(
        "SELECT relname FROM pg_class"
        " WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    ).fetchall()
    assert owned_relations == []
    # …while the tables do exist, owned by someone else.
    assert set(TENANT_SCOPED_TABLES) | {"tenants"} <= {
        r[0] for r in runtime.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }


def test_runtime_role_cannot_switch_rls_off(runtime: psycopg.Connection[Any]) -> None:
    # row_security = off makes a query that RLS would filter fail rather than bypass.
    with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"), runtime.transaction():
        runtime.execute("SET LOCAL row_security = off")
        runtime.execute("SELECT count(*) FROM customers")
    with pytest.raises(pg_errors.InsufficientPrivilege, match="owner"), runtime.transaction():
        runtime.execute("ALTER TABLE customers DISABLE ROW LEVEL SECURITY")
    with pytest.raises(pg_errors.InsufficientPrivilege, match="owner"), runtime.transaction():
        runtime.execute("DROP POLICY tenant_isolation ON customers")
    with pytest.raises(pg_errors.InsufficientPrivilege), runtime.transaction():
        runtime.execute("SET ROLE postgres")


# -- the catalog: every tenant-scoped table is locked down ---------------------------------------


@pytest.mark.parametrize("table", [*TENANT_SCOPED_TABLES, "tenants"])
def test_rls_enabled_and_forced(owner: psycopg.Connection[Any], table: str) -> None:
    row = owner.execute(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [table]
    ).fetchone()
    assert row == (True, True)


@pytest.mark.parametrize("table", TENANT_SCOPED_TABLES)
def test_tenant_policy_has_using_and_with_check(owner: psycopg.Connection[Any], table: str) -> None:
    policies = owner.execute(
        "SELECT policyname, permissive, cmd, qual, with_check FROM pg_policies"
        " WHERE schemaname = 'public' AND tablename = %s",
        [table],
    ).fetchall()
    assert any(
        cmd == "ALL" and qual and with_check and "app.tenant_id" in qual and "app.tenant_id" in with_check
        for _, _, cmd, qual, with_check in policies
    ), policies
    for name, permissive, cmd, qual, with_check in policies:
        assert permissive == "PERMISSIVE", name
        if cmd != "SELECT":
            # Every policy that lets a row be written or deleted is bound to the current tenant
            # and to nothing else (the login lookup may widen reads, never writes).
            assert qual is None or ("app.tenant_id" in qual and "login_username" not in qual), name
            assert with_check is None or "app.tenant_id" in with_check, name


@pytest.mark.parametrize("table", TENANT_SCOPED_TABLES)
def test_an_index_leads_with_tenant_id(owner: psycopg.Connection[Any], table: str) -> None:
    indexes = owner.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = %s::regclass AND a.attname = 'tenant_id'",
        [table],
    ).fetchall()
    assert indexes, f"{table} has no index whose first column is tenant_id"


# -- raw SQL as the runtime role, table by table ----------------------------------------------------


@pytest.mark.parametrize("table", TENANT_SCOPED_TABLES)
def test_select_sees_only_own_rows(
    runtime: psycopg.Connection[Any],
    owner: psycopg.Connection[Any],
    tenants: tuple[Seeded, Seeded],
    table: str,
) -> None:
    for me in tenants:
        with acting(runtime, me.id):
            rows = runtime.execute(f"SELECT id::text, tenant_id::text FROM {table}").fetchall()
        assert {r[0] for r in rows} == ids_of(owner, table, me.id)
        assert {r[1] for r in rows} == {me.id}


@pytest.mark.parametrize("table", TENANT_SCOPED_TABLES)
def test_other_tenants_rows_cannot_be_updated_or_deleted(
    runtime: psycopg.Connection[Any],
    owner: psycopg.Connection[Any],
    tenants: tuple[Seeded, Seeded],
    table: str,
) -> None:
    a, b = tenants
    theirs = sorted(ids_of(owner, table, b.id))
    mine = ids_of(owner, table, a.id)
    with acting(runtime, a.id, rollback=True):
        assert (
            runtime.execute(f"UPDATE {table} SET id = id WHERE id = ANY(%s::uuid[])", [theirs]).rowcount == 0
        )
        assert (
            runtime.execute(f"UPDATE {table} SET tenant_id = %s WHERE tenant_id = %s", [a.id, b.id]).rowcount
            == 0
        )
        assert runtime.execute(f"DELETE FROM {table} WHERE id = ANY(%s::uuid[])", [theirs]).rowcount == 0
        assert runtime.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [b.id]).rowcount == 0
        # Unqualified statements reach exactly the caller's rows.
        assert runtime.execute(f"UPDATE {table} SET id = id").rowcount == len(mine)
        assert runtime.execute(f"DELETE FROM {table}").rowcount == len(mine)
    # Moving one of my rows into B's tenant is refused by WITH CHECK.
    with pytest.raises(pg_errors.InsufficientPrivilege) as exc, acting(runtime, a.id):
        runtime.execute(f"UPDATE {table} SET tenant_id = %s WHERE id = %s", [b.id, sorted(mine)[0]])
    assert_rls_violation(exc)
    assert ids_of(owner, table, b.id) == set(theirs)
    assert ids_of(owner, table, a.id) == mine


@pytest.mark.parametrize("table", TENANT_SCOPED_TABLES)
def test_insert_for_another_tenant_is_refused(
    runtime: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded], table: str
) -> None:
    a, b = tenants
    # Control: the same statement for my own tenant is fine (rolled back).
    with acting(runtime, a.id, rollback=True):
        assert runtime.execute(INSERTS[table], a.values()).rowcount == 1
    with pytest.raises(pg_errors.InsufficientPrivilege) as exc, acting(runtime, a.id):
        runtime.execute(INSERTS[table], b.values())
    assert_rls_violation(exc)
    # No tenant at all: nothing can be inserted anywhere.
    with pytest.raises(pg_errors.InsufficientPrivilege) as exc, acting(runtime, None):
        runtime.execute(INSERTS[table], a.values())
    assert_rls_violation(exc)


# Every reference from a tenant-scoped row to another tenant-scoped row.
REFERENCES = [
    ("cameras", "site"),
    ("visits", "site"),
    ("visits", "customer"),
    ("api_keys", "site"),
    ("api_keys", "camera"),
    ("sightings", "site"),
    ("sightings", "customer"),
    ("sightings", "visit"),
    ("sightings", "camera"),
    ("sightings", "staff"),
    ("customer_exemplars", "customer"),
    ("staff_embeddings", "staff"),
    ("merge_suggestions", "customer"),
    ("merge_suggestions", "candidate"),
    ("visit_rollups", "site"),
    ("rollup_dirty", "site"),
]


@pytest.mark.parametrize(("table", "ref"), REFERENCES)
def test_own_row_cannot_point_at_another_tenants_row(
    runtime: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded], table: str, ref: str
) -> None:
    """FK checks bypass RLS, so only a composite (tenant_id, ref) foreign key stops a row of A from
    referencing (and being cascaded by) a row of B."""
    a, b = tenants
    with acting(runtime, a.id, rollback=True):
        assert runtime.execute(INSERTS[table], a.values()).rowcount == 1  # control
    with pytest.raises(pg_errors.ForeignKeyViolation), acting(runtime, a.id, rollback=True):
        runtime.execute(INSERTS[table], a.values(**{ref: b.refs[ref]}))


@pytest.mark.parametrize("table", TENANT_SCOPED_TABLES)
def test_without_a_tenant_nothing_is_visible(
    runtime: psycopg.Connection[Any],
    owner: psycopg.Connection[Any],
    pg_settings: Settings,
    tenants: tuple[Seeded, Seeded],
    table: str,
) -> None:
    assert owner.execute(f"SELECT count(*) FROM {table}").fetchone() != (0,)
    with acting(runtime, None, rollback=True):
        assert runtime.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        assert runtime.execute(f"UPDATE {table} SET id = id").rowcount == 0
        assert runtime.execute(f"DELETE FROM {table}").rowcount == 0
    # A brand-new connection that never set anything sees nothing either.
    with psycopg.connect(pg_settings.runtime_database_url) as fresh:
        assert fresh.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_platform_admin_flag_does_not_open_tenant_tables(
    runtime: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded]
) -> None:
    """platform_admin widens the tenant registry only, never a tenant's data."""
    with acting(runtime, None, platform_admin=True):
        for table in TENANT_SCOPED_TABLES:
            assert runtime.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


# -- users: the login lookup reads one row and writes nothing --------------------------------------


def test_login_lookup_reads_exactly_the_named_user(
    runtime: psycopg.Connection[Any], owner: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded]
) -> None:
    a, b = tenants
    with acting(runtime, None, login_username=b.admin_username):
        rows = runtime.execute("SELECT username, tenant_id::text FROM users").fetchall()
    assert rows == [(b.admin_username, b.id)]
    named = owner.execute("SELECT id::text FROM users WHERE username = %s", [b.admin_username]).fetchone()
    assert named is not None
    # In A's context the lookup adds B's named user to what A may *read*…
    with acting(runtime, a.id, login_username=b.admin_username, rollback=True):
        visible = {r[0] for r in runtime.execute("SELECT id::text FROM users")}
        assert visible == ids_of(owner, "users", a.id) | {named[0]}
        # …but never to what it may change or delete.
        assert (
            runtime.execute(
                "UPDATE users SET disabled = true WHERE username = %s", [b.admin_username]
            ).rowcount
            == 0
        )
        assert runtime.execute("DELETE FROM users WHERE username = %s", [b.admin_username]).rowcount == 0
    with acting(runtime, None, login_username=b.admin_username, rollback=True):
        assert runtime.execute("DELETE FROM users").rowcount == 0
    assert owner.execute("SELECT disabled FROM users WHERE username = %s", [b.admin_username]).fetchone() == (
        False,
    )


# -- the tenant registry -------------------------------------------------------------------------


def test_a_tenant_reads_only_its_own_registry_row(
    runtime: psycopg.Connection[Any], owner: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded]
) -> None:
    a, b = tenants
    names_before = dict(owner.execute("SELECT id::text, name FROM tenants").fetchall())
    assert len(names_before) >= 2
    with acting(runtime, a.id, rollback=True):
        assert runtime.execute("SELECT id::text FROM tenants").fetchall() == [(a.id,)]
        for target in (a.id, b.id):
            assert (
                runtime.execute("UPDATE tenants SET name = name || '!' WHERE id = %s", [target]).rowcount == 0
            )
            assert runtime.execute("DELETE FROM tenants WHERE id = %s", [target]).rowcount == 0
        assert runtime.execute("DELETE FROM tenants").rowcount == 0
    with pytest.raises(pg_errors.InsufficientPrivilege) as exc, acting(runtime, a.id):
        runtime.execute("INSERT INTO tenants (name) VALUES (%s)", [f"rogue-{uuid.uuid4().hex}"])
    assert_rls_violation(exc)
    with acting(runtime, None):
        assert runtime.execute("SELECT count(*) FROM tenants").fetchone() == (0,)
    assert dict(owner.execute("SELECT id::text, name FROM tenants").fetchall()) == names_before


def test_platform_admin_manages_the_registry(
    runtime: psycopg.Connection[Any], owner: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded]
) -> None:
    """The positive control for the test above: the same statements work with platform_admin."""
    a, b = tenants
    total = owner.execute("SELECT count(*) FROM tenants").fetchone()
    with acting(runtime, None, platform_admin=True, rollback=True):
        assert runtime.execute("SELECT count(*) FROM tenants").fetchone() == total
        assert (
            runtime.execute("INSERT INTO tenants (name) VALUES (%s)", [f"t-{uuid.uuid4().hex}"]).rowcount == 1
        )
        assert runtime.execute("UPDATE tenants SET name = name || '!' WHERE id = %s", [b.id]).rowcount == 1
        # Deleting a tenant cascades into rows RLS hides from this transaction: the FK
        # actions run as the owner, so the registry delete still works.
        assert runtime.execute("DELETE FROM tenants WHERE id = %s", [a.id]).rowcount == 1
    assert owner.execute(
        "SELECT count(*) FROM tenants WHERE id = ANY(%s::uuid[])", [[a.id, b.id]]
    ).fetchone() == (2,)


# -- through the API -----------------------------------------------------------------------------

PATCHES: dict[str, dict[str, Any]] = {
    "/v1/sites": {"name": "taken over"},
    "/v1/cameras": {"enabled": False},
    "/v1/staff": {"name": "taken over"},
    "/v1/customers": {"notes": "taken over"},
    "/v1/users": {"disabled": True},
    "/v1/api-keys": {"revoked": True},
}


def objects_of(seeded: Seeded) -> dict[str, str]:
    refs = seeded.refs
    return {
        "/v1/sites": refs["site"],
        "/v1/cameras": refs["camera"],
        "/v1/staff": refs["staff"],
        "/v1/customers": refs["customer"],
        "/v1/users": refs["user"],
        "/v1/api-keys": refs["api_key"],
    }


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


@pytest.mark.parametrize("path", list(PATCHES))
def test_tenant_admin_gets_404_for_other_tenants_objects(tenants: tuple[Seeded, Seeded], path: str) -> None:
    a, b = tenants
    theirs = objects_of(b)[path]
    before = b.admin.ok("GET", f"{path}/{theirs}")
    # The second caller also names B in X-Tenant-ID: only system_admin may choose its tenant.
    for caller in (a.admin, a.admin.as_tenant(b.id)):
        assert_not_found(caller.get(f"{path}/{theirs}"))
        assert_not_found(caller.patch(f"{path}/{theirs}", json=PATCHES[path]))
        assert_not_found(caller.delete(f"{path}/{theirs}"))
    # B's object is untouched.
    assert b.admin.ok("GET", f"{path}/{theirs}") == before


def test_x_tenant_id_is_ignored_for_tenant_admins(tenants: tuple[Seeded, Seeded]) -> None:
    a, b = tenants
    spoofing = a.admin.as_tenant(b.id)
    assert_not_found(spoofing.get(f"/v1/sites/{b.refs['site']}"))
    listed = spoofing.ok("GET", "/v1/sites", params={"limit": 500})
    assert {s["tenant_id"] for s in listed["items"]} == {a.id}


LISTS: dict[str, tuple[str, str]] = {
    # list path → (table, id field in the response)
    "/v1/sites": ("sites", "id"),
    "/v1/cameras": ("cameras", "id"),
    "/v1/staff": ("staff", "id"),
    "/v1/customers": ("customers", "customer_id"),
    "/v1/users": ("users", "id"),
    "/v1/api-keys": ("api_keys", "id"),
    "/v1/audit": ("audit_log", "id"),
}


@pytest.mark.parametrize("path", list(LISTS))
def test_lists_show_exactly_the_callers_tenant(
    api: Api, owner: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded], path: str
) -> None:
    table, id_field = LISTS[path]
    for me, other in (tenants, tenants[::-1]):
        expected = ids_of(owner, table, me.id)
        for caller in (me.admin, api.as_tenant(me.id)):
            page = caller.ok("GET", path, params={"limit": 500})
            seen = {item[id_field] for item in page["items"]}
            assert seen == expected, (path, caller is me.admin)
            assert page["total"] == len(expected)
            assert {item["tenant_id"] for item in page["items"]} == {me.id}
            assert not seen & ids_of(owner, table, other.id)


def test_visit_list_shows_only_the_callers_tenant(
    api: Api, owner: psycopg.Connection[Any], tenants: tuple[Seeded, Seeded]
) -> None:
    """Visits page by cursor (no total): every item is the caller's, and B's seeded visit never shows."""
    for me, other in (tenants, tenants[::-1]):
        for caller in (me.admin, api.as_tenant(me.id)):
            page = caller.ok("GET", "/v1/visits", params={"limit": 500})
            seen = {item["visit_id"] for item in page["items"]}
            assert me.refs["visit"] in seen
            assert seen <= ids_of(owner, "visits", me.id)
            assert not seen & ids_of(owner, "visits", other.id)
            assert {item["tenant_id"] for item in page["items"]} == {me.id}
        by_customer = me.admin.ok("GET", "/v1/visits", params={"customer_id": other.refs["customer"]})
        assert by_customer["items"] == []


def test_system_admin_acting_in_a_tenant_cannot_reach_another(
    api: Api, tenants: tuple[Seeded, Seeded]
) -> None:
    a, b = tenants
    inside_a = api.as_tenant(a.id)
    for path, theirs in objects_of(b).items():
        assert_not_found(inside_a.get(f"{path}/{theirs}"))
    for path, mine in objects_of(a).items():
        assert inside_a.ok("GET", f"{path}/{mine}")


def test_system_admin_must_name_a_tenant(api: Api, tenants: tuple[Seeded, Seeded]) -> None:
    a, _ = tenants
    assert api.tenant_id is None
    targets = [*LISTS, *(f"{path}/{obj}" for path, obj in objects_of(a).items())]
    for target in targets:
        response = api.get(target)
        assert response.status_code == 400, (target, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "X-Tenant-ID" in response.json()["detail"]
    response = api.post("/v1/sites", json={"name": "nowhere", "timezone": "UTC"})
    assert response.status_code == 400
    bad = api.get("/v1/sites", headers={"X-Tenant-ID": "not-a-uuid"})
    assert bad.status_code == 400


# -- property: any mix of operations matches a model of "each tenant sees only its own rows" --------

LABEL = {"customers": "display_name", "staff": "name", "sites": "name"}
PROP_TABLES = tuple(LABEL)


def prop_insert(conn: psycopg.Connection[Any], table: str, tenant_id: str, label: str) -> str:
    sql = {
        "customers": "INSERT INTO customers (tenant_id, display_name) VALUES (%s, %s) RETURNING id::text",
        "staff": "INSERT INTO staff (tenant_id, name) VALUES (%s, %s) RETURNING id::text",
        "sites": "INSERT INTO sites (tenant_id, name, timezone) VALUES (%s, %s, 'UTC') RETURNING id::text",
    }[table]
    row = conn.execute(sql, [tenant_id, label]).fetchone()
    assert row is not None
    return str(row[0])


@dataclass
class ModelRow:
    table: str
    tenant: str
    label: str


OPS = st.tuples(
    st.sampled_from(["select", "update", "update_all", "delete", "insert_own", "insert_other"]),
    st.integers(-1, 3),  # acting tenant index (-1 = no tenant set)
    st.sampled_from(PROP_TABLES),
    st.integers(0, 1000),  # picks the target row / the other tenant
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_tenants=st.integers(2, 4),
    initial=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(PROP_TABLES)), max_size=12),
    ops=st.lists(OPS, min_size=1, max_size=15),
)
def test_isolation_property(
    runtime: psycopg.Connection[Any],
    owner: psycopg.Connection[Any],
    n_tenants: int,
    initial: list[tuple[int, str]],
    ops: list[tuple[str, int, str, int]],
) -> None:
    tenant_ids = [
        str(row[0])
        for row in owner.execute(
            "INSERT INTO tenants (name) SELECT 'prop-' || gen_random_uuid() FROM generate_series(1, %s)"
            " RETURNING id",
            [n_tenants],
        ).fetchall()
    ]
    model: dict[str, ModelRow] = {}
    try:
        for index, table in initial:
            tenant = tenant_ids[index % n_tenants]
            label = uuid.uuid4().hex
            with acting(runtime, tenant):
                model[prop_insert(runtime, table, tenant, label)] = ModelRow(table, tenant, label)

        for kind, actor_index, table, pick in ops:
            actor = None if actor_index < 0 else tenant_ids[actor_index % n_tenants]
            column = LABEL[table]
            candidates = sorted(rid for rid, row in model.items() if row.table == table)
            target = candidates[pick % len(candidates)] if candidates else str(uuid.uuid4())
            owned = target in model and model[target].tenant == actor

            if kind == "select":
                with acting(runtime, actor):
                    seen = dict(runtime.execute(f"SELECT id::text, {column} FROM {table}").fetchall())
                expected = {
                    rid: row.label for rid, row in model.items() if row.table == table and row.tenant == actor
                }
                assert seen == expected
            elif kind == "update":
                label = uuid.uuid4().hex
                with acting(runtime, actor):
                    count = runtime.execute(
                        f"UPDATE {table} SET {column} = %s WHERE id = %s", [label, target]
                    ).rowcount
                assert count == (1 if owned else 0)
                if owned:
                    model[target].label = label
            elif kind == "update_all":
                with acting(runtime, actor):
                    count = runtime.execute(f"UPDATE {table} SET {column} = {column}").rowcount
                assert count == sum(1 for row in model.values() if row.table == table and row.tenant == actor)
            elif kind == "delete":
                with acting(runtime, actor):
                    count = runtime.execute(f"DELETE FROM {table} WHERE id = %s", [target]).rowcount
                assert count == (1 if owned else 0)
                if owned:
                    del model[target]
            elif kind == "insert_own" and actor is not None:
                label = uuid.uuid4().hex
                with acting(runtime, actor):
                    model[prop_insert(runtime, table, actor, label)] = ModelRow(table, actor, label)
            else:  # insert_other, or insert_own without a tenant: always refused
                others = [t for t in tenant_ids if t != actor]
                victim = others[pick % len(others)]
                with pytest.raises(pg_errors.InsufficientPrivilege), acting(runtime, actor):
                    prop_insert(runtime, table, victim, uuid.uuid4().hex)

        # The database, seen by the owner, is exactly the model.
        actual: dict[str, ModelRow] = {}
        for table in PROP_TABLES:
            rows = owner.execute(
                f"SELECT id::text, tenant_id::text, {LABEL[table]} FROM {table}"
                " WHERE tenant_id = ANY(%s::uuid[])",
                [tenant_ids],
            ).fetchall()
            actual.update({rid: ModelRow(table, tenant, label) for rid, tenant, label in rows})
        assert actual == model
    finally:
        owner.execute("DELETE FROM tenants WHERE id = ANY(%s::uuid[])", [tenant_ids])
