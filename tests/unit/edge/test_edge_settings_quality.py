"""The edge settings fill the quality gate by field name: every field of the gate is a setting."""

from __future__ import annotations

import msgspec

from appliance.edge.quality import QualityConfig
from appliance.edge.settings import EdgeSettings


def test_every_quality_field_is_an_edge_setting_with_the_same_default() -> None:
    settings = msgspec.structs.asdict(EdgeSettings())
    gate = msgspec.structs.asdict(QualityConfig())
    assert {name: settings.get(name) for name in gate} == gate


def test_the_gate_takes_the_operators_values() -> None:
    edge = EdgeSettings(min_face_px=64.0, max_roll_degrees=12.0)
    gate = msgspec.convert(edge, QualityConfig, from_attributes=True)
    assert (gate.min_face_px, gate.max_roll_degrees, gate.min_blur) == (64.0, 12.0, edge.min_blur)
