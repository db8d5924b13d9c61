"""The data contracts: JSON Schemas, generated msgspec Structs and fixtures. (The dashboard's types
come from the OpenAPI document; see tests/e2e/test_web_checks.py.)

Every fixture in tests/fixtures/contracts/<schema>/valid must pass both the JSON Schema (jsonschema,
with format checking) and msgspec decoding into the generated Struct; every one in .../invalid must
fail both. Where the two disagree, the fixture is listed in KNOWN_MISMATCHES with the reason, and the
test checks that exact disagreement (so a fix on either side makes the test ask for the entry to go).
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator, FormatChecker

import appliance.contracts as contracts
from appliance.contracts import SCHEMA_NAMES, STRUCT_BY_SCHEMA, generated, load_schema

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "contracts"

FORMAT_CHECKER = FormatChecker()
# jsonschema checks "date-time" only when the optional rfc3339-validator package is installed (it is
# not a project dependency). The schemas therefore also carry a `pattern` on every date-time that
# requires a full date, a time and an explicit offset; only impossible calendar dates (Feb 30) get
# past the pattern, and msgspec rejects those.
DATE_TIME_FORMAT_CHECKED = "date-time" in FORMAT_CHECKER.checkers

MIN_FIXTURES = {
    "Event.FaceDetected.v1": {"valid": 3, "invalid": 6},
    "VisitRecord.v1": {"valid": 2, "invalid": 3},
    "CustomerProfile.v1": {"valid": 2, "invalid": 3},
}

# (schema, "valid"/"invalid", fixture stem) -> (jsonschema accepts, msgspec accepts, reason)
KNOWN_MISMATCHES: dict[tuple[str, str, str], tuple[bool, bool, str]] = {
    ("Event.FaceDetected.v1", "invalid", "captured_at_space_separator"): (
        False,
        True,
        "msgspec's RFC 3339 parser also takes a space between date and time (RFC 3339 section 5.6 "
        "note); JSON Schema date-time and our pattern require 'T'.",
    ),
    ("Event.FaceDetected.v1", "invalid", "captured_at_offset_without_colon"): (
        False,
        True,
        "msgspec also takes an offset without a colon (+0100); RFC 3339 and our pattern require +01:00.",
    ),
    ("Event.FaceDetected.v1", "invalid", "captured_at_impossible_date"): (
        not DATE_TIME_FORMAT_CHECKED,
        False,
        "the pattern cannot know month lengths and jsonschema's date-time check needs rfc3339-validator, "
        "which is not installed; msgspec rejects 2025-02-30.",
    ),
    ("Event.FaceDetected.v1", "invalid", "site_id_uuid_without_hyphens"): (
        False,
        True,
        "msgspec's UUID type also takes the 32-hex-digit form without hyphens; jsonschema's uuid format "
        "requires the hyphenated RFC 4122 form.",
    ),
    ("VisitRecord.v1", "valid", "sightings_integral_float"): (
        True,
        False,
        "JSON Schema counts 14.0 as an integer, msgspec's int does not; every encoder we use (msgspec, "
        "JSON.stringify) writes integers without '.0', so this only matters for hand-written JSON.",
    ),
}


def fixture_paths(kind: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*/{kind}/*.json"))


def fixture_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}/{path.stem}"


def fixture_key(path: Path) -> tuple[str, str, str]:
    return (path.parent.parent.name, path.parent.name, path.stem)


@functools.cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name), format_checker=FORMAT_CHECKER)


def struct_for(name: str) -> type[msgspec.Struct]:
    struct = getattr(generated, STRUCT_BY_SCHEMA[name])
    assert isinstance(struct, type) and issubclass(struct, msgspec.Struct)
    return struct


def jsonschema_errors(name: str, doc: Any) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(name).iter_errors(doc)
    )


def msgspec_error(name: str, raw: bytes) -> str | None:
    try:
        msgspec.json.decode(raw, type=struct_for(name))
    except msgspec.ValidationError as exc:
        return str(exc)
    return None


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def object_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (n for n in walk(schema) if n.get("type") == "object" or "properties" in n)


# --- the schemas themselves -----------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_well_formed(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://appliance.local/contracts/{name}.json"
    assert schema["title"] == STRUCT_BY_SCHEMA[name]
    assert schema["description"]
    for obj in object_schemas(schema):
        assert obj.get("additionalProperties") is False, f"{name}: an object allows extra properties"
        assert set(obj.get("required", ())) <= set(obj["properties"])
        for prop_name, prop in obj["properties"].items():
            assert prop.get("description"), f"{name}: property {prop_name} has no description"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_formats_are_really_checked(name: str) -> None:
    schema = load_schema(name)
    formats = {n["format"] for n in walk(schema) if isinstance(n.get("format"), str)}
    assert "uuid" in FORMAT_CHECKER.checkers, "jsonschema lost its built-in uuid check"
    assert not FORMAT_CHECKER.conforms("not-a-uuid", "uuid")
    assert formats <= {"uuid", "date-time"}, f"{name}: format without a test: {formats}"
    date_times = [n for n in walk(schema) if n.get("format") == "date-time"]
    assert date_times, f"{name}: expected date-time properties"
    check = Draft202012Validator({"type": "string", "pattern": date_times[0]["pattern"]})
    for dt in date_times:
        # Without rfc3339-validator, the pattern is what enforces date-time (and the offset).
        assert dt["pattern"] == date_times[0]["pattern"], "every date-time must use the same pattern"
    for good in ("2025-03-14T09:12:31Z", "2025-03-14T09:12:31.482+01:00", "2025-03-14t09:12:31-05:30"):
        assert check.is_valid(good), good
    for bad in ("2025-03-14T09:12:31", "2025-03-14", "2025-13-14T09:12:31Z", "2025-03-14T24:00:00Z", "x"):
        assert not check.is_valid(bad), bad


def test_load_schema() -> None:
    assert load_schema("VisitRecord.v1.json") == load_schema("VisitRecord.v1")
    first = load_schema("VisitRecord.v1")
    first["title"] = "changed"
    assert load_schema("VisitRecord.v1")["title"] == "VisitRecordV1"
    with pytest.raises(KeyError):
        load_schema("Nope.v1")


def test_package_reexports_generated_structs() -> None:
    assert contracts.EventFaceDetectedV1 is generated.EventFaceDetectedV1
    assert contracts.VisitRecordV1 is generated.VisitRecordV1
    assert contracts.CustomerProfileV1 is generated.CustomerProfileV1
    assert contracts.ModelInfo is generated.ModelInfo
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None
    with pytest.raises(AttributeError):
        _ = contracts.NoSuchThing


# --- the generated Structs agree with the schemas -------------------------------------------------

CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)


def constraints_in(node: Any) -> set[tuple[str, Any]]:
    """Constraint keywords in ``node`` and its subschemas, not descending into nested objects
    (those are compared on their own) nor counting the date-time pattern (msgspec's datetime
    type with tz=True enforces it; a pattern cannot go on a datetime)."""
    found: set[tuple[str, Any]] = set()
    if isinstance(node, list):
        for item in node:
            found |= constraints_in(item)
    elif isinstance(node, dict):
        found |= {(k, float(node[k])) for k in CONSTRAINTS if k in node}
        if "pattern" in node and node.get("format") != "date-time":
            found.add(("pattern", node["pattern"]))
        for key, value in node.items():
            if isinstance(value, dict) and "properties" in value:
                continue
            if key != "properties":
                found |= constraints_in(value)
    return found


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_structs_match_schema(name: str) -> None:
    """Same objects, properties, required sets and constraints in msgspec's view of the Structs."""
    source = load_schema(name)
    generated_schema = msgspec.json.schema(struct_for(name))
    defs = generated_schema["$defs"]
    titled = {n["title"]: n for n in object_schemas(source) if "title" in n}
    assert source["title"] in titled
    for title, obj in titled.items():
        assert title in defs, f"no Struct named {title}"
        gen = defs[title]
        assert set(gen["properties"]) == set(obj["properties"]), title
        assert set(gen.get("required", ())) == set(obj.get("required", ())), title
        for prop_name, prop in obj["properties"].items():
            missing = constraints_in(prop) - constraints_in(gen["properties"][prop_name])
            assert not missing, f"{title}.{prop_name}: constraints not carried into msgspec: {missing}"


def test_structs_forbid_unknown_fields_and_are_keyword_only() -> None:
    for struct_name in (*STRUCT_BY_SCHEMA.values(), "ModelInfo"):
        struct = getattr(generated, struct_name)
        assert struct.__struct_config__.forbid_unknown_fields, struct_name
        with pytest.raises(TypeError):
            struct(*range(len(struct.__struct_fields__)))


def test_date_times_decode_timezone_aware() -> None:
    raw = (FIXTURES / "Event.FaceDetected.v1" / "valid" / "all_optional_fields.json").read_bytes()
    event = msgspec.json.decode(raw, type=generated.EventFaceDetectedV1)
    assert event.captured_at.utcoffset() is not None
    assert event.captured_at.isoformat() == "2025-03-14T17:45:02.113000+01:00"


# --- fixtures ---------------------------------------------------------------------------------------


def test_fixture_inventory() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(SCHEMA_NAMES)
    for name, minimum in MIN_FIXTURES.items():
        for kind, count in minimum.items():
            found = (FIXTURES / name / kind).glob("*.json")
            agreeing = [p for p in found if fixture_key(p) not in KNOWN_MISMATCHES]
            assert len(agreeing) >= count, f"{name}/{kind}: {len(agreeing)} fixtures, want >= {count}"
    for key in KNOWN_MISMATCHES:
        assert (FIXTURES / key[0] / key[1] / f"{key[2]}.json").is_file(), (
            f"stale KNOWN_MISMATCHES entry {key}"
        )


def check_fixture(path: Path, *, valid: bool) -> None:
    name = path.parent.parent.name
    raw = path.read_bytes()
    errors = jsonschema_errors(name, json.loads(raw))
    decode_error = msgspec_error(name, raw)
    expected = KNOWN_MISMATCHES.get(fixture_key(path))
    if expected is None:
        if valid:
            assert errors == [], f"jsonschema rejects a valid fixture: {errors}"
            assert decode_error is None, f"msgspec rejects a valid fixture: {decode_error}"
        else:
            assert errors, "jsonschema accepts an invalid fixture"
            assert decode_error is not None, "msgspec accepts an invalid fixture"
    else:
        schema_ok, msgspec_ok, reason = expected
        assert (errors == [], decode_error is None) == (schema_ok, msgspec_ok), (
            f"known mismatch changed ({reason}); jsonschema: {errors or 'accepts'}, "
            f"msgspec: {decode_error or 'accepts'}"
        )


def msgspec_accepts(path: Path) -> bool:
    expected = KNOWN_MISMATCHES.get(fixture_key(path))
    return expected is None or expected[1]


@pytest.mark.parametrize("path", fixture_paths("valid"), ids=fixture_id)
def test_valid_fixture(path: Path) -> None:
    check_fixture(path, valid=True)


@pytest.mark.parametrize("path", fixture_paths("invalid"), ids=fixture_id)
def test_invalid_fixture(path: Path) -> None:
    check_fixture(path, valid=False)


@pytest.mark.parametrize(
    "path",
    [p for p in fixture_paths("valid") if p.parent.parent.name == "Event.FaceDetected.v1"],
    ids=fixture_id,
)
def test_valid_event_embeddings_are_unit_length(path: Path) -> None:
    embedding = json.loads(path.read_bytes())["embedding"]
    assert len(embedding) == 128
    assert math.isclose(math.sqrt(sum(x * x for x in embedding)), 1.0, abs_tol=1e-6)


# --- round trip -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [p for p in fixture_paths("valid") if msgspec_accepts(p)],
    ids=fixture_id,
)
def test_round_trip(path: Path) -> None:
    name = path.parent.parent.name
    struct = struct_for(name)
    first = msgspec.json.decode(path.read_bytes(), type=struct)
    encoded = msgspec.json.encode(first)
    assert jsonschema_errors(name, json.loads(encoded)) == [], "msgspec's output breaks the schema"
    second = msgspec.json.decode(encoded, type=struct)
    assert second == first
    assert msgspec.json.encode(second) == encoded
    # Optional fields left out stay left out (UNSET) instead of coming back as null; only fields
    # with a schema default (written out as that default) may appear.
    with_default = {f.encode_name for f in msgspec.structs.fields(struct) if not f.required}
    with_default -= {f.encode_name for f in msgspec.structs.fields(struct) if f.default is msgspec.UNSET}
    added = set(json.loads(encoded)) - set(json.loads(path.read_bytes()))
    assert added <= with_default, f"fields that were absent came back: {added - with_default}"


def test_round_trip_from_python() -> None:
    """A Struct built in Python (as the edge worker would) encodes to a schema-valid document."""
    doc = json.loads((FIXTURES / "Event.FaceDetected.v1" / "valid" / "minimal_sface_128d.json").read_bytes())
    event = msgspec.json.decode(json.dumps(doc), type=generated.EventFaceDetectedV1)
    rebuilt = generated.EventFaceDetectedV1(
        event_id=event.event_id,
        site_id=event.site_id,
        camera_id=event.camera_id,
        captured_at=event.captured_at,
        embedding=event.embedding,
        det_score=event.det_score,
        bbox=event.bbox,
        landmarks=event.landmarks,
        quality=event.quality,
        is_staff_local=event.is_staff_local,
        model=generated.ModelInfo(name="sface", version="2021dec"),
    )
    assert rebuilt == event
    assert jsonschema_errors("Event.FaceDetected.v1", json.loads(msgspec.json.encode(rebuilt))) == []


# --- generated code is fresh ------------------------------------------------------------------------


def test_python_contracts_are_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "appliance.contracts.codegen", "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}"
