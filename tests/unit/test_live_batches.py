"""Live announcements are JSON arrays under PostgreSQL's NOTIFY payload limit."""

from __future__ import annotations

import json

from appliance.domain.events.notify import PAYLOAD_LIMIT, batches


def test_batches_keep_every_event_in_order_under_the_limit() -> None:
    events = [json.dumps({"event_id": i, "pad": "x" * (i % 300)}) for i in range(400)]
    payloads = batches(events)
    assert len(payloads) > 1
    assert all(len(p) <= PAYLOAD_LIMIT for p in payloads)
    decoded = [event for payload in payloads for event in json.loads(payload)]
    assert [e["event_id"] for e in decoded] == list(range(400))


def test_an_oversized_event_goes_alone() -> None:
    big, small = json.dumps({"pad": "y" * (PAYLOAD_LIMIT + 10)}), json.dumps({"n": 1})
    assert [len(json.loads(p)) for p in batches([small, big, small])] == [1, 1, 1]
    assert batches([]) == []
