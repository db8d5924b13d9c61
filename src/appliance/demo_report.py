"""What ``appliance demo`` prints at the end: the visits, the hourly report, new vs repeat, a verdict."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

console = Console()


def ok_json(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()


def print_report(
    http: httpx.Client,
    site: dict[str, Any],
    start: datetime,
    end: datetime,
    plan_info: Any,
    summary: dict[str, Any],
) -> None:
    visits = ok_json(http.get("/v1/visits", params={"site_id": site["id"], "limit": 200}))["items"]
    customers: dict[str, int] = {}
    table = Table(
        "first seen (UTC)", "last seen", "customer", "sightings", "new?", "gender", "age", title="visits"
    )
    for visit in sorted(visits, key=lambda v: v["first_seen"]):
        customers.setdefault(visit["customer_id"], len(customers) + 1)
        table.add_row(
            visit["first_seen"][11:19],
            visit["last_seen"][11:19],
            f"#{customers[visit['customer_id']]} {visit['customer_id'][:8]}",
            str(visit["sightings"]),
            "new" if visit["is_new_customer"] else "[cyan]repeat[/]",
            str(visit.get("gender") or "-"),
            f"{visit['age']:.0f}" if visit.get("age") is not None else "-",
        )
    console.print(table)

    window = {"site_id": site["id"], "from": start.isoformat(), "to": end.isoformat()}
    report = ok_json(http.get("/v1/reports/visitors", params={**window, "granularity": "hour"}))
    hourly = Table(
        "hour (site time)", "visits", "unique visitors", "new visitors", title="visitors report (hourly)"
    )
    for bucket in report["buckets"]:
        hourly.add_row(
            bucket["start"][:16],
            str(bucket["visits"]),
            str(bucket["unique_visitors"]),
            str(bucket["new_visitors"]),
        )
    hourly.add_row(
        "total", str(report["total_visits"]), str(report["total_unique_visitors"]), "", style="bold"
    )
    console.print(hourly)

    split = ok_json(http.get("/v1/reports/distribution", params={**window, "kind": "new_vs_repeat"}))
    dist = Table("kind", "visits", "unique visitors", title="new vs repeat")
    for piece in split["slices"]:
        dist.add_row(piece["key"], str(piece["visits"]), str(piece["unique_visitors"]))
    console.print(dist)

    found = len(customers)
    if plan_info is not None:
        people = len(plan_info.people)
        expected_visits = len(plan_info.appearances)
        ok = found == people and len(visits) == expected_visits
        mark = "[bold green]✔[/]" if ok else "[bold red]✘[/]"
        console.print(
            f"{mark} {found} customers found for {people} people in the video; {len(visits)} visits for "
            f"{expected_visits} appearances ({expected_visits - people} repeat visits expected); "
            f"{summary.get('events_queued')} events sent"
        )
    else:
        console.print(f"{found} customers, {len(visits)} visits from {summary.get('events_queued')} events")
    doubtful = ok_json(http.get("/v1/customers/merge-suggestions", params={"limit": 1}))["total"]
    console.print(
        f"{doubtful} possible duplicate(s) to review (Customers → Possible duplicates): faces that "
        "looked like a customer, but not enough to be sure, became new profiles"
    )
