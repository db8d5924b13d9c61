"""Issue 18: a staff photo is checked for scope, bytes and pixels before it is decoded."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

from tests.integration.api import Api
from tests.integration.trust.conftest import REPO, Shop, assert_problem

FACES = REPO.parent / "shared" / "faces"


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG that claims ``width`` x ``height`` pixels (the decompression-bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # Rows of zeros compress to almost nothing: this is what made 182 KiB decode to gigabytes.
    idat = zlib.compress(b"\x00" * (1 + 3 * width) * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def post(api: Api, staff_id: str, data: bytes | Iterator[bytes], content_type: str = "image/png") -> Any:
    return api.post(f"/v1/staff/{staff_id}/photos", content=data, headers={"content-type": content_type})


def test_scope_is_checked_before_the_photo_is_read(shop: Shop) -> None:
    theirs = shop.admin.ok(
        "POST", "/v1/staff", 201, json={"name": "Other", "site_ids": [shop.other_site["id"]]}
    )
    # A manager of site A learns nothing about site B's staff, whatever it sends.
    assert_problem(post(shop.manager, theirs["id"], png_header_only(8000, 8000)), 404)
    assert_problem(post(shop.manager, theirs["id"], b"not an image"), 404)
    assert_problem(post(shop.manager, theirs["id"], b"x" * (9 * 1024 * 1024)), 413)  # by its header alone


def test_bytes_and_pixels_are_capped(shop: Shop) -> None:
    mine = shop.admin.ok("POST", "/v1/staff", 201, json={"name": "Mine", "site_ids": [shop.site["id"]]})
    bomb = png_header_only(8000, 8000)
    assert len(bomb) < 200 * 1024
    started = time.monotonic()
    response = post(shop.manager, mine["id"], bomb)
    body = assert_problem(response, 422, "body")
    assert "8000x8000" in body["detail"] and time.monotonic() - started < 2
    assert_problem(post(shop.manager, mine["id"], b"\xff\xd8" + b"\x00" * 100, "image/jpeg"), 422, "body")
    assert_problem(post(shop.manager, mine["id"], b"x" * (8 * 1024 * 1024 + 1)), 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: the read itself stops at the cap
        for _ in range(9):
            yield b"\x00" * (1024 * 1024)

    assert_problem(post(shop.manager, mine["id"], chunked()), 413)
    # A real photo within the caps is enrolled.
    photo = (FACES / "obama" / "1.jpg").read_bytes()
    enrolled = post(shop.manager, mine["id"], photo, "image/jpeg")
    assert enrolled.status_code == 201, enrolled.text
