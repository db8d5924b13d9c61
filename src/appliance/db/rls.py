"""Row level security DDL, shared by the migrations.

Policies compare against ``current_setting('app.tenant_id', true)``, which the runtime sets
per transaction (``set_config(..., true)``) from the verified JWT. An unset tenant matches
no row. FORCE makes the policies bind the table owner too.
"""

from __future__ import annotations

from alembic import op

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
PLATFORM_ADMIN = "current_setting('app.platform_admin', true) = 'on'"
LOGIN_LOOKUP = "username = NULLIF(current_setting('app.login_username', true), '')"


def enable_rls(tables: tuple[str, ...]) -> None:
    """ENABLE + FORCE RLS with the tenant policy on ``tables`` (each migration names its own)."""
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
    if "users" in tables:
        _login_lookup()
        _tenants_registry()


def _login_lookup() -> None:
    # users: a tenant sees its own users; the password grant may *read* exactly the one row
    # whose username it names (system_admin rows have no tenant and are reachable only so).
    # A separate FOR SELECT policy: when the lookup was an OR inside the (FOR ALL) tenant
    # policy, a transaction that set app.login_username could also DELETE that user in any
    # tenant, system_admin included. Permissive policies OR together per command, so the
    # lookup widens SELECT only; UPDATE/DELETE stay confined to the current tenant.
    op.execute(f"CREATE POLICY login_lookup ON users FOR SELECT USING ({LOGIN_LOOKUP})")


def reset_users_policies() -> None:
    """Re-create the users policies as ``enable_rls`` makes them today (databases migrated by the
    first release carried the login lookup inside the FOR ALL policy; see ``_login_lookup``)."""
    op.execute("DROP POLICY IF EXISTS tenant_isolation ON users")
    op.execute("DROP POLICY IF EXISTS login_lookup ON users")
    op.execute(
        "CREATE POLICY tenant_isolation ON users "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    _login_lookup()


def _tenants_registry() -> None:
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


def disable_rls(tables: tuple[str, ...]) -> None:
    if "users" in tables:
        op.execute("DROP POLICY IF EXISTS login_lookup ON users")
        for policy in ("tenant_read", "platform_insert", "platform_update", "platform_delete"):
            op.execute(f"DROP POLICY IF EXISTS {policy} ON tenants")
    for table in tables:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
