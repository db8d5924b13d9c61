"""The edge settings extend the quality gate: every field of the gate is a setting."""

from __future__ import annotations

import msgspec

from appliance.edge.quality import QualityConfig
from appliance.edge.settings import EdgeSettings, load_edge_settings


def test_every_quality_field_is_an_edge_setting_with_the_same_default() -> None:
    settings = msgspec.structs.asdict(EdgeSettings())
    gate = msgspec.structs.asdict(QualityConfig())
    assert {name: settings[name] for name in gate} == gate


def test_the_gate_takes_the_operators_values() -> None:
    edge = load_edge_settings({"APPLIANCE_MIN_FACE_PX": "64", "APPLIANCE_MAX_ROLL_DEGREES": "12"})
    assert isinstance(edge, QualityConfig)
    assert (edge.min_face_px, edge.max_roll_degrees, edge.min_blur) == (64.0, 12.0, QualityConfig().min_blur)
