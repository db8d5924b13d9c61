"""Every CRUD area end to end as a tenant admin: create, read, list, update, delete, audit."""

from __future__ import annotations

from typing import Any

from tests.integration.api import PASSWORD


def test_site_lifecycle(tenant: dict[str, Any]) -> None:
    admin = tenant["admin"]
    site = admin.ok(
        "POST",
        "/v1/sites",
        201,
        json={"name": "Outlet", "timezone": "America/New_York", "address": "1 Main St"},
    )
    assert site["timezone"] == "America/New_York"
    assert admin.ok("GET", f"/v1/sites/{site['id']}")["name"] == "Outlet"
    listed = admin.ok("GET", "/v1/sites", params={"q": "out"})
    assert [s["id"] for s in listed["items"]] == [site["id"]]
    updated = admin.ok("PATCH", f"/v1/sites/{site['id']}", json={"address": None})
    assert updated["address"] is None and updated["name"] == "Outlet"
    admin.ok("DELETE", f"/v1/sites/{site['id']}", 204)
    assert admin.get(f"/v1/sites/{site['id']}").status_code == 404
    audit = admin.ok("GET", "/v1/audit", params={"action": "site.delete"})
    assert audit["total"] == 1 and audit["items"][0]["target_id"] == site["id"]


def test_every_area_round_trips(tenant: dict[str, Any]) -> None:
    admin, site = tenant["admin"], tenant["site"]
    camera = admin.ok(
        "POST",
        "/v1/cameras",
        201,
        json={"site_id": site["id"], "name": "Door", "source": "rtsp://10.0.0.5/s1"},
    )
    staff = admin.ok("POST", "/v1/staff", 201, json={"name": "Ana", "site_ids": [site["id"]]})
    customer = admin.ok("POST", "/v1/customers", 201, json={"display_name": "Regular", "tags": ["vip"]})
    user = admin.ok(
        "POST",
        "/v1/users",
        201,
        json={
            "username": "mgr-" + site["id"][:8],
            "password": PASSWORD,
            "role": "site_manager",
            "site_ids": [site["id"]],
        },
    )
    key = admin.ok("POST", "/v1/api-keys", 201, json={"site_id": site["id"], "camera_id": camera["id"]})
    assert key["api_key"].startswith("apk_")
    for path, obj_id, change in [
        ("/v1/staff", staff["id"], {"name": "Ana B."}),
        ("/v1/customers", customer["customer_id"], {"notes": "likes coffee"}),
        ("/v1/users", user["id"], {"disabled": True}),
        ("/v1/api-keys", key["id"], {"revoked": True}),
        # last: deleting a camera cascades to the keys bound to it
        ("/v1/cameras", camera["id"], {"enabled": False}),
    ]:
        assert admin.ok("GET", f"{path}/{obj_id}")
        assert admin.ok("GET", path)["total"] >= 1
        admin.ok("PATCH", f"{path}/{obj_id}", json=change)
        # Customers are erased (GDPR) with a verification report; everything else answers 204.
        admin.ok("DELETE", f"{path}/{obj_id}", 200 if path == "/v1/customers" else 204)
        assert admin.get(f"{path}/{obj_id}").status_code == 404
    actions = {row["action"] for row in admin.ok("GET", "/v1/audit", params={"limit": 100})["items"]}
    assert {
        "user.create",
        "user.update",
        "user.delete",
        "api_key.create",
        "api_key.delete",
        "camera.delete",
    } <= actions
