"""Site and camera creation, update and deletion appear in the audit log (issue 22)."""

from __future__ import annotations

from typing import Any


def _audit(admin: Any, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = admin.ok("GET", "/v1/audit", params={"action": action, "limit": 100})[
        "items"
    ]
    return items


def test_site_and_camera_writes_are_audited(tenant: dict[str, Any]) -> None:
    admin = tenant["admin"]
    site = admin.ok("POST", "/v1/sites", 201, json={"name": "Harbour", "timezone": "Europe/Lisbon"})
    camera = admin.ok(
        "POST",
        "/v1/cameras",
        201,
        json={"site_id": site["id"], "name": "Till", "source": "rtsp://cam:S3cretPw@10.0.0.9/s1"},
    )
    admin.ok("PATCH", f"/v1/sites/{site['id']}", json={"name": "Harbour West"})
    admin.ok("PATCH", f"/v1/cameras/{camera['id']}", json={"enabled": False})
    admin.ok("DELETE", f"/v1/cameras/{camera['id']}", 204)
    admin.ok("DELETE", f"/v1/sites/{site['id']}", 204)

    # The fixture's own site was created (and audited) before this one.
    [site_created] = [row for row in _audit(admin, "site.create") if row["target_id"] == site["id"]]
    assert site_created["details"] == {"name": "Harbour", "timezone": "Europe/Lisbon"}
    [site_updated] = _audit(admin, "site.update")
    assert site_updated["target_id"] == site["id"]
    assert site_updated["details"]["fields"] == ["name"] and site_updated["details"]["name"] == "Harbour West"
    assert [row["target_id"] for row in _audit(admin, "site.delete")] == [site["id"]]

    [camera_created] = _audit(admin, "camera.create")
    assert camera_created["target_id"] == camera["id"]
    assert camera_created["details"] == {"name": "Till", "site_id": site["id"]}
    [camera_updated] = _audit(admin, "camera.update")
    assert camera_updated["details"]["fields"] == ["enabled"]
    assert [row["target_id"] for row in _audit(admin, "camera.delete")] == [camera["id"]]
    # The audit log names the camera, never its source (a stream URL may carry a password).
    everything = admin.ok("GET", "/v1/audit", params={"limit": 100})["items"]
    assert "S3cretPw" not in repr(everything)
    # Every row names who did it: this tenant admin, for all six.
    actors = [row["actor"] for row in everything if row["target_id"] in (site["id"], camera["id"])]
    assert len(actors) == 6 and len(set(actors)) == 1 and actors[0].startswith("user:")
