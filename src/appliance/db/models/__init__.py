"""SQLAlchemy tables, one module per table (``refs.py``: the tenant-confined reference)."""

from appliance.db.base import Base
from appliance.db.models.api_key import ApiKey
from appliance.db.models.audit import AuditLog
from appliance.db.models.camera import Camera
from appliance.db.models.customer import Customer
from appliance.db.models.erasure_job import ErasureJob
from appliance.db.models.exemplar import CustomerExemplar, ExemplarTombstone, StaffEmbedding, VectorWatermark
from appliance.db.models.merge_suggestion import MergeSuggestion
from appliance.db.models.rollup import RollupDirty, VisitRollup
from appliance.db.models.sighting import Sighting
from appliance.db.models.site import Site
from appliance.db.models.staff import Staff
from appliance.db.models.tenant import Tenant
from appliance.db.models.user import User
from appliance.db.models.user_session import UserSession
from appliance.db.models.visit import Visit

__all__ = [
    "ApiKey",
    "AuditLog",
    "Base",
    "Camera",
    "Customer",
    "CustomerExemplar",
    "ErasureJob",
    "ExemplarTombstone",
    "MergeSuggestion",
    "RollupDirty",
    "Sighting",
    "Site",
    "Staff",
    "StaffEmbedding",
    "Tenant",
    "User",
    "UserSession",
    "VectorWatermark",
    "Visit",
    "VisitRollup",
]
