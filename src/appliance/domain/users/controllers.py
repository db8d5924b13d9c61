from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import User as UserRow
from appliance.domain.auth.principal import ADMINS, Principal
from appliance.domain.users.schemas import TenantRole, User, UserCreate, UserUpdate
from appliance.domain.users.services import UserService
from appliance.lib.crud import Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset


class UserController(Controller):
    path = "/v1/users"
    tags = ["users"]
    opt = {"roles": ADMINS}

    @get(operation_id="listUsers")
    async def list_users(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        role: TenantRole | None = None,
    ) -> Page[User]:
        """List the tenant's dashboard users."""
        filters = [UserRow.role == role] if role else []
        rows, total = await UserService(session, principal, tenant).list(filters, limit, offset)
        return Page([to_schema(r, User) for r in rows], total, limit, offset)

    @get("/{user_id:uuid}", operation_id="getUser")
    async def get_user(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, user_id: uuid.UUID
    ) -> User:
        """One user."""
        return to_schema(await UserService(session, principal, tenant).get(user_id), User)

    @post(operation_id="createUser")
    async def create_user(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, data: UserCreate
    ) -> User:
        """Create a tenant_admin or site_manager login (audited)."""
        return to_schema(await UserService(session, principal, tenant).create(changes_of(data)), User)

    @patch("/{user_id:uuid}", operation_id="updateUser")
    async def update_user(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        user_id: uuid.UUID,
        data: UserUpdate,
    ) -> User:
        """Change a user's password, role, sites or disabled flag (audited)."""
        row = await UserService(session, principal, tenant).update(user_id, changes_of(data))
        return to_schema(row, User)

    @delete("/{user_id:uuid}", operation_id="deleteUser")
    async def delete_user(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """Delete a user (audited)."""
        await UserService(session, principal, tenant).delete(user_id)
