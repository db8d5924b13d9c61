"""The edge event contract, shared by the edge worker and the API.

The JSON Schemas in ``schemas/`` (versioned) are its source of truth; ``generated.py`` holds the
msgspec Structs made from them (``make contracts``), committed and checked for staleness by the
tests. Everything else the API speaks is described by the OpenAPI document (``docs/openapi.json``),
from which the web UI's types are generated.

The Structs are imported lazily so that the code generator can run, and rewrite ``generated.py``,
even when the committed ``generated.py`` is missing or broken.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.contracts.generated import (
        CustomerProfileV1,
        EventFaceDetectedV1,
        ModelInfo,
        VisitRecordV1,
    )

__all__ = [
    "SCHEMA_NAMES",
    "STRUCT_BY_SCHEMA",
    "CustomerProfileV1",
    "EventFaceDetectedV1",
    "ModelInfo",
    "VisitRecordV1",
    "load_schema",
    "schema_text",
]

#: Names of the contract schemas: ``schemas/<name>.json``, ``$id`` ``https://appliance.local/contracts/<name>.json``.
SCHEMA_NAMES: tuple[str, ...] = (
    "Event.FaceDetected.v1",
    "VisitRecord.v1",
    "CustomerProfile.v1",
)

#: Name of the generated Struct for each schema (its ``title``).
STRUCT_BY_SCHEMA: dict[str, str] = {
    "Event.FaceDetected.v1": "EventFaceDetectedV1",
    "VisitRecord.v1": "VisitRecordV1",
    "CustomerProfile.v1": "CustomerProfileV1",
}

_GENERATED_NAMES = frozenset({"CustomerProfileV1", "EventFaceDetectedV1", "ModelInfo", "VisitRecordV1"})


def _check_name(name: str) -> str:
    if name.endswith(".json"):
        name = name[: -len(".json")]
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown contract schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return name


def schema_text(name: str) -> str:
    """Return the raw text of the schema ``name`` (e.g. ``"Event.FaceDetected.v1"``)."""
    name = _check_name(name)
    return resources.files(__name__).joinpath("schemas", f"{name}.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``name`` (e.g. ``"Event.FaceDetected.v1"``; a ``.json`` suffix is accepted).

    A fresh dict is returned on every call, so callers may modify it. Raises ``KeyError`` for an
    unknown name.
    """
    schema = json.loads(schema_text(name))
    if not isinstance(schema, dict):
        raise TypeError(f"schema {name!r} is not a JSON object")
    return schema


def __getattr__(name: str) -> Any:
    if name in _GENERATED_NAMES:
        from appliance.contracts import generated

        return getattr(generated, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
