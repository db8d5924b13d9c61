from __future__ import annotations

from appliance.db.models import User as UserRow
from appliance.domain.auth.principal import ADMINS
from appliance.domain.users.schemas import TenantRole, User, UserCreate, UserUpdate
from appliance.domain.users.services import UserService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Op


def user_filters(role: TenantRole | None = None) -> Filters:
    return [UserRow.role == role] if role else []


class UserController(CrudController):
    path = "/v1/users"
    tags = ["users"]
    opt = {"roles": ADMINS}
    crud = Crud(
        key="user_id",
        read=User,
        service=UserService,
        filters=user_filters,
        write=(UserCreate, UserUpdate),
        list_op=Op("listUsers", "List the tenant's dashboard users."),
        get_op=Op("getUser", "One user."),
        create_op=Op("createUser", "Create a tenant_admin or site_manager login (audited)."),
        update_op=Op("updateUser", "Change a user's password, role, sites or disabled flag (audited)."),
        delete_op=Op("deleteUser", "Delete a user (audited)."),
    )
