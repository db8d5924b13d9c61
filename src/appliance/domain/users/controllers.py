from __future__ import annotations

from appliance.db.models import User as UserRow
from appliance.domain.auth.principal import ADMINS
from appliance.domain.users.schemas import TenantRole, User, UserCreate, UserUpdate
from appliance.domain.users.services import UserService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Ops


def user_filters(role: TenantRole | None = None) -> Filters:
    return [UserRow.role == role] if role else []


class UserController(CrudController):
    path = "/v1/users"
    tags = ["users"]
    opt = {"roles": ADMINS}
    crud = Crud(UserService, User, UserCreate, UserUpdate, filters=user_filters)
    ops = Ops(
        list="List the tenant's dashboard users.",
        create="Create a tenant_admin or site_manager login (audited).",
        update="Change a user's password, role, sites or disabled flag (audited).",
        delete="Delete a user (audited).",
    )
