"""POST /v1/staff/{id}/photos: the shared detect/align/embed code (appliance.vision) on the server."""

from __future__ import annotations

import numpy as np
from tests.conftest import TEST_EMBEDDER
from tests.integration.recognition.conftest import FACES_DIR, Shop

from appliance.vision.images import encode_jpeg, read_image, resize_area


def jpeg(image: np.ndarray) -> bytes:
    return encode_jpeg(image)


def post_photo(shop: Shop, staff_id: str, data: bytes, content_type: str = "image/jpeg") -> object:
    return shop.admin.post(
        f"/v1/staff/{staff_id}/photos", content=data, headers={"content-type": content_type}
    )


def test_enrolled_staff_are_recognised_and_bad_photos_rejected(shop: Shop) -> None:
    staff = shop.admin.ok("POST", "/v1/staff", 201, json={"name": "Barack", "site_ids": [shop.site["id"]]})
    enrolled = post_photo(shop, staff["id"], (FACES_DIR / "obama" / "1.jpg").read_bytes())
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["det_score"] > 0.7 and enrolled.json()["photo_key"]

    no_face = post_photo(shop, staff["id"], (FACES_DIR / "_no_face" / "brick.jpg").read_bytes())
    assert no_face.status_code == 422 and "found 0" in no_face.json()["detail"]
    left = resize_area(read_image(str(FACES_DIR / "biden" / "2.jpg")), (600, 600))
    right = resize_area(read_image(str(FACES_DIR / "rose_leslie" / "1.jpg")), (600, 600))
    two = post_photo(shop, staff["id"], jpeg(np.hstack([left, right])))
    assert two.status_code == 422 and "exactly one face" in two.json()["detail"]
    assert post_photo(shop, staff["id"], b"not an image").status_code == 422
    assert post_photo(shop, staff["id"], b"x", "text/plain").status_code == 422

    # Another photo of the same person, embedded like the edge does, is filtered as staff.
    from tests.integration.recognition.conftest import MODELS_DIR

    from appliance.config import load_settings
    from appliance.vision.faces import Vision, decode_image

    vision = Vision.from_settings(load_settings(env={}, models_dir=str(MODELS_DIR), embedder=TEST_EMBEDDER))
    image = decode_image((FACES_DIR / "obama" / "2.jpg").read_bytes())
    face = vision.detector.detect(image)[0]
    embedding = vision.embed_faces(image, [face])[0]
    answer = shop.post(shop.event(embedding))
    assert answer["is_staff"] and answer["staff_id"] == staff["id"] and answer["customer_id"] is None
    audit = shop.admin.ok("GET", "/v1/audit", params={"action": "staff.enrol_photo"})
    assert audit["total"] == 1
