"""The visits CSV as a store manager opens it in a spreadsheet: UTF-8 with a byte-order mark, site
names, times to the second in the site's zone with its offset, new/returning spelled out."""

from __future__ import annotations

import csv
import io

import numpy as np
from tests.integration.recognition.conftest import Shop, unit

from appliance.domain.visits.services import CSV_COLUMNS


def test_the_export_names_sites_and_uses_the_sites_zone(shop: Shop) -> None:
    face = unit(np.random.default_rng(5))
    shop.post(shop.event(face, at="2026-11-20T10:00:00.123456+01:00"))
    shop.post(shop.event(face, at="2026-11-21T09:30:00Z"))  # a returning visit the next day

    export = shop.admin.get("/v1/visits/export.csv")
    assert export.status_code == 200, export.text
    assert export.content.startswith(b"\xef\xbb\xbf")  # the BOM spreadsheets need for UTF-8
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    newest, first = rows  # newest first
    assert first["site"] == newest["site"] == shop.site["name"]
    assert first["first_seen"] == "2026-11-20T10:00:00+01:00"  # Europe/Berlin in November
    assert newest["first_seen"] == "2026-11-21T10:30:00+01:00"
    assert (first["visitor"], newest["visitor"]) == ("new", "returning")
    assert first["stay_minutes"] == "0.0" and first["sightings"] == "1"
