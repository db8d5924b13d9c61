"""Row level security DDL, shared by the migrations.

Policies compare against ``current_setting('app.tenant_id', true)``, which the runtime sets
per transaction (``set_config(..., true)``) from the verified JWT. An unset tenant matches
no row. FORCE makes the policies bind the table owner too.
"""

from __future__ import annotations

from alembic import op

from appliance.db.base import TENANT_SCOPED_TABLES

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
PLATFORM_ADMIN = "current_setting('app.platform_admin', true) = 'on'"
LOGIN_LOOKUP = "username = NULLIF(current_setting('app.login_username', true), '')"


def enable_rls() -> None:
    for table in TENANT_SCOPED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        if table == "users":
            continue
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
    # users: a tenant sees its own users; the password grant may read exactly the one row
    # whose username it names (system_admin rows have no tenant and are reachable only so).
    op.execute(
        f"CREATE POLICY tenant_isolation ON users USING (tenant_id = {CURRENT_TENANT} OR {LOGIN_LOOKUP}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    # tenants: the registry itself. A tenant reads its own row; only system_admin lists or writes.
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_read ON tenants FOR SELECT USING (id = {CURRENT_TENANT} OR {PLATFORM_ADMIN})"
    )
    op.execute(f"CREATE POLICY platform_insert ON tenants FOR INSERT WITH CHECK ({PLATFORM_ADMIN})")
    op.execute(
        "CREATE POLICY platform_update ON tenants FOR UPDATE"
        f" USING ({PLATFORM_ADMIN}) WITH CHECK ({PLATFORM_ADMIN})"
    )
    op.execute(f"CREATE POLICY platform_delete ON tenants FOR DELETE USING ({PLATFORM_ADMIN})")


def disable_rls() -> None:
    for policy in ("tenant_read", "platform_insert", "platform_update", "platform_delete"):
        op.execute(f"DROP POLICY IF EXISTS {policy} ON tenants")
    for table in (*TENANT_SCOPED_TABLES,):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
