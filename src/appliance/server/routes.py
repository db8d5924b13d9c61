"""Every API controller, in one list the app and the OpenAPI export share."""

from __future__ import annotations

from litestar import Controller

from appliance.domain.api_keys.controllers import ApiKeyController
from appliance.domain.audit.controllers import AuditController
from appliance.domain.cameras.controllers import CameraController
from appliance.domain.customers.controllers import CustomerController
from appliance.domain.edge.controllers import EdgeController
from appliance.domain.events.controllers import EventController, LiveController
from appliance.domain.reports.controllers import ReportController
from appliance.domain.sites.controllers import SiteController
from appliance.domain.staff.controllers import StaffController
from appliance.domain.tenants.controllers import TenantController
from appliance.domain.users.controllers import UserController
from appliance.domain.visits.controllers import VisitController
from appliance.storage.controllers import ObjectController

API_CONTROLLERS: list[type[Controller]] = [
    TenantController,
    SiteController,
    CameraController,
    StaffController,
    CustomerController,
    UserController,
    ApiKeyController,
    AuditController,
    EventController,
    EdgeController,
    LiveController,
    VisitController,
    ReportController,
    ObjectController,
]
