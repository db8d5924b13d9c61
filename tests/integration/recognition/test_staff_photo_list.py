"""The Staff list shows who has an enrolled photo: the count, and a link to the newest one (issue 22)."""

from __future__ import annotations

import uuid

from tests.integration.api import Api
from tests.integration.recognition.conftest import FACES_DIR, Shop
from tests.integration.recognition.test_staff_enrolment import post_photo


def test_staff_list_counts_enrolled_photos_and_links_the_newest(shop: Shop) -> None:
    site = shop.site["id"]
    ana = shop.admin.ok("POST", "/v1/staff", 201, json={"name": "Ana", "site_ids": [site]})
    ben = shop.admin.ok("POST", "/v1/staff", 201, json={"name": "Ben", "site_ids": [site]})
    assert ana["photo_count"] == 0 and ana["latest_photo_id"] is None

    first = (FACES_DIR / "obama" / "1.jpg").read_bytes()
    second = (FACES_DIR / "obama" / "2.jpg").read_bytes()
    assert post_photo(shop, ana["id"], first).status_code == 201
    newest = post_photo(shop, ana["id"], second)
    assert newest.status_code == 201, newest.text
    # A rejected photo (no face) is not counted.
    assert post_photo(shop, ana["id"], (FACES_DIR / "_no_face" / "brick.jpg").read_bytes()).status_code == 422

    listed = {m["name"]: m for m in shop.admin.ok("GET", "/v1/staff")["items"]}
    assert listed["Ana"]["photo_count"] == 2 and listed["Ana"]["latest_photo_id"] == newest.json()["id"]
    assert listed["Ben"]["photo_count"] == 0 and listed["Ben"]["latest_photo_id"] is None
    one = shop.admin.ok("GET", f"/v1/staff/{ana['id']}")
    assert (one["photo_count"], one["latest_photo_id"]) == (2, newest.json()["id"])
    renamed = shop.admin.ok("PATCH", f"/v1/staff/{ana['id']}", json={"name": "Ana B."})
    assert renamed["photo_count"] == 2

    # The thumbnail: a short-lived link to the very bytes that were enrolled.
    link = shop.admin.ok("GET", f"/v1/staff/{ana['id']}/photos/{newest.json()['id']}/snapshot")
    assert link["expires_in"] > 0
    image = shop.admin.client.get(link["url"])
    assert image.status_code == 200 and image.content == second
    assert image.headers["content-type"] == "image/jpeg"

    # Another member's photo id, or an unknown one, is a 404 problem.
    wrong = shop.admin.get(f"/v1/staff/{ben['id']}/photos/{newest.json()['id']}/snapshot")
    assert wrong.status_code == 404 and wrong.headers["content-type"].startswith("application/problem+json")
    assert shop.admin.get(f"/v1/staff/{ana['id']}/photos/{uuid.uuid4()}/snapshot").status_code == 404


def test_staff_photo_links_stay_inside_the_tenant(shop: Shop, rec_api: Api) -> None:
    member = shop.admin.ok("POST", "/v1/staff", 201, json={"name": "Cleo", "site_ids": [shop.site["id"]]})
    photo = post_photo(shop, member["id"], (FACES_DIR / "biden" / "1.jpg").read_bytes())
    assert photo.status_code == 201, photo.text
    other = Shop(rec_api)
    # RLS: the other tenant sees neither the member nor the photo.
    assert (
        other.admin.get(f"/v1/staff/{member['id']}/photos/{photo.json()['id']}/snapshot").status_code == 404
    )
