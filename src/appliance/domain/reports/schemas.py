from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

Granularity = Literal["hour", "day", "week", "month"]
DistributionKind = Literal["new_vs_repeat", "gender", "dow"]


class VisitorBucket(msgspec.Struct):
    start: datetime
    """Bucket start in the report's time zone (with its UTC offset)."""
    visits: int
    unique_visitors: int
    new_visitors: int


class VisitorReport(msgspec.Struct):
    granularity: Granularity
    timezone: str
    site_id: uuid.UUID | None
    start: datetime
    end: datetime
    buckets: list[VisitorBucket]
    total_visits: int
    total_unique_visitors: int


class DistributionSlice(msgspec.Struct):
    key: str
    visits: int
    unique_visitors: int


class DistributionReport(msgspec.Struct):
    kind: DistributionKind
    timezone: str
    site_id: uuid.UUID | None
    start: datetime
    end: datetime
    slices: list[DistributionSlice]
