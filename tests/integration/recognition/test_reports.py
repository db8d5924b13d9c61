"""Reports equal a pure-Python reference on random visit sets, DST days included."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.api import Api

from appliance.config import Settings

ZONE_NAME = "Europe/Berlin"
ZONE = ZoneInfo(ZONE_NAME)
# Spring forward on 2026-03-29, fall back on 2026-10-25 (Europe/Berlin).
WINDOWS = [
    (datetime(2026, 3, 26, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)),
    (datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC)),
]
DOW = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def trunc(local: datetime, granularity: str) -> datetime:
    if granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def step(bucket: datetime, granularity: str) -> datetime:
    if granularity == "hour":
        return bucket + timedelta(hours=1)
    if granularity == "day":
        return bucket + timedelta(days=1)
    if granularity == "week":
        return bucket + timedelta(days=7)
    return (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)


def local_naive(at: datetime) -> datetime:
    return at.astimezone(ZONE).replace(tzinfo=None)


def reference(
    visits: list[dict[str, Any]], granularity: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """Local wall-clock buckets over [start, end), zero-filled — the documented semantics."""
    inside = [v for v in visits if start <= v["first_seen"] < end]
    buckets: dict[datetime, dict[str, Any]] = {}
    cursor = trunc(local_naive(start), granularity)
    last = trunc(local_naive(end - timedelta(microseconds=1)), granularity)
    while cursor <= last:
        buckets[cursor] = {"visits": 0, "customers": set(), "new": set()}
        cursor = step(cursor, granularity)
    for v in inside:
        b = buckets.setdefault(
            trunc(local_naive(v["first_seen"]), granularity), {"visits": 0, "customers": set(), "new": set()}
        )
        b["visits"] += 1
        b["customers"].add(v["customer_id"])
        if v["is_new"]:
            b["new"].add(v["customer_id"])
    return {k: (b["visits"], len(b["customers"]), len(b["new"])) for k, b in sorted(buckets.items())} | {
        "_total": (len(inside), len({v["customer_id"] for v in inside}))
    }


@pytest.fixture(scope="module")
def report_shop(api: Api, pg_settings: Settings) -> dict[str, Any]:
    made = api.new_tenant(f"reports-{uuid.uuid4().hex[:8]}")
    site = made["admin"].ok("POST", "/v1/sites", 201, json={"name": "Berlin", "timezone": ZONE_NAME})
    customers = [str(uuid.uuid4()) for _ in range(6)]
    with psycopg.connect(pg_settings.database_url) as conn:
        for cid in customers:
            conn.execute("INSERT INTO customers (id, tenant_id) VALUES (%s, %s)", (cid, made["tenant"]["id"]))
    return {
        "admin": made["admin"],
        "tenant": made["tenant"]["id"],
        "site": site["id"],
        "customers": customers,
    }


def seed(settings: Settings, shop: dict[str, Any], visits: list[dict[str, Any]]) -> None:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("DELETE FROM visits WHERE tenant_id = %s", (shop["tenant"],))
        for v in visits:
            conn.execute(
                "INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, sightings,"
                " is_new_customer, gender) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, 1, %s, %s)",
                (
                    shop["tenant"],
                    shop["site"],
                    v["customer_id"],
                    v["first_seen"],
                    v["first_seen"],
                    v["is_new"],
                    v["gender"],
                ),
            )


visit_sets = st.integers(0, 1).flatmap(
    lambda w: st.tuples(
        st.just(w),
        st.lists(
            st.fixed_dictionaries(
                {
                    "offset": st.integers(0, int((WINDOWS[w][1] - WINDOWS[w][0]).total_seconds()) - 1),
                    "customer": st.integers(0, 5),
                    "is_new": st.booleans(),
                    "gender": st.sampled_from([None, "female", "male"]),
                }
            ),
            max_size=30,
        ),
    )
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=visit_sets, granularity=st.sampled_from(["hour", "day", "week", "month"]))
def test_visitor_report_matches_reference(
    report_shop: dict[str, Any],
    pg_settings: Settings,
    data: tuple[int, list[dict[str, Any]]],
    granularity: str,
) -> None:
    window, raw = data
    start, end = WINDOWS[window]
    visits = [
        {
            "first_seen": start + timedelta(seconds=r["offset"]),
            "customer_id": report_shop["customers"][r["customer"]],
            "is_new": r["is_new"],
            "gender": r["gender"],
        }
        for r in raw
    ]
    seed(pg_settings, report_shop, visits)
    # The report window is a little narrower than the seeded range, so edges are exercised.
    q_start, q_end = start + timedelta(hours=5), end - timedelta(hours=3)
    # First with every bucket dirty (counted live), then from the refreshed rollups.
    first = report_shop["admin"].ok(
        "GET",
        "/v1/reports/visitors",
        params={
            "granularity": granularity,
            "site_id": report_shop["site"],
            "from": q_start.isoformat(),
            "to": q_end.isoformat(),
        },
    )
    assert report_shop["admin"].ok("POST", "/v1/reports/refresh")["days_refreshed"] >= (1 if visits else 0)
    got = report_shop["admin"].ok(
        "GET",
        "/v1/reports/visitors",
        params={
            "granularity": granularity,
            "site_id": report_shop["site"],
            "from": q_start.isoformat(),
            "to": q_end.isoformat(),
        },
    )
    expected = reference(visits, granularity, q_start, q_end)
    total = expected.pop("_total")
    actual = {
        datetime.fromisoformat(b["start"]).replace(tzinfo=None): (
            b["visits"],
            b["unique_visitors"],
            b["new_visitors"],
        )
        for b in got["buckets"]
    }
    assert actual == expected
    assert first["buckets"] == got["buckets"] and first["total_visits"] == got["total_visits"]
    assert first["total_unique_visitors"] == got["total_unique_visitors"]
    assert (got["total_visits"], got["total_unique_visitors"]) == total
    assert got["timezone"] == ZONE_NAME

    dist = report_shop["admin"].ok(
        "GET",
        "/v1/reports/distribution",
        params={
            "kind": "dow",
            "site_id": report_shop["site"],
            "from": q_start.isoformat(),
            "to": q_end.isoformat(),
        },
    )
    inside = [v for v in visits if q_start <= v["first_seen"] < q_end]
    by_dow: dict[str, int] = defaultdict(int)
    for v in inside:
        by_dow[DOW[local_naive(v["first_seen"]).weekday()]] += 1
    assert {s["key"]: s["visits"] for s in dist["slices"]} == {d: by_dow.get(d, 0) for d in DOW}


def test_distribution_new_vs_repeat_and_gender(report_shop: dict[str, Any], pg_settings: Settings) -> None:
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    c = report_shop["customers"]
    visits = [
        {"first_seen": at, "customer_id": c[0], "is_new": True, "gender": "female"},
        {"first_seen": at + timedelta(hours=1), "customer_id": c[1], "is_new": True, "gender": "male"},
        {"first_seen": at + timedelta(days=1), "customer_id": c[0], "is_new": False, "gender": "female"},
        {"first_seen": at + timedelta(days=2), "customer_id": c[2], "is_new": False, "gender": None},
    ]
    seed(pg_settings, report_shop, visits)
    params = {
        "site_id": report_shop["site"],
        "from": "2026-06-01T00:00:00+02:00",
        "to": "2026-06-08T00:00:00+02:00",
    }
    nvr = report_shop["admin"].ok(
        "GET", "/v1/reports/distribution", params={**params, "kind": "new_vs_repeat"}
    )
    assert {s["key"]: (s["visits"], s["unique_visitors"]) for s in nvr["slices"]} == {
        "new": (2, 2),
        "repeat": (2, 2),
    }
    gender = report_shop["admin"].ok("GET", "/v1/reports/distribution", params={**params, "kind": "gender"})
    assert {s["key"]: s["visits"] for s in gender["slices"]} == {"female": 2, "male": 1, "unknown": 1}
    daily = report_shop["admin"].ok("GET", "/v1/reports/visitors", params={**params, "granularity": "day"})
    assert len(daily["buckets"]) == 7 and [b["visits"] for b in daily["buckets"]][:3] == [2, 1, 1]
    assert date.fromisoformat(daily["buckets"][0]["start"][:10]) == date(2026, 6, 1)


def test_report_input_errors(report_shop: dict[str, Any]) -> None:
    admin = report_shop["admin"]
    bad = [
        {"granularity": "minute"},
        {"granularity": "hour", "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"granularity": "day", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"granularity": "day", "site_id": str(uuid.uuid4())},
    ]
    for params in bad:
        response = admin.get("/v1/reports/visitors", params=params)
        assert 400 <= response.status_code < 500, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
