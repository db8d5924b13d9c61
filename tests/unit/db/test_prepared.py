"""The PREPARE/EXECUTE forms of a hot-path statement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from appliance.db.prepared import Prepared, literal
from appliance.domain.events import statements


def test_placeholders_become_positions_in_order_of_first_use() -> None:
    stmt = Prepared(
        "demo",
        "SELECT %(b)s, %(a)s WHERE x = %(b)s",
        {"a": "uuid", "b": "timestamptz", "unused": "int"},
    )
    assert stmt.params == ("b", "a")
    assert stmt.prepare_sql() == "PREPARE demo(timestamptz, uuid) AS SELECT $1, $2 WHERE x = $1"
    when = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    one = uuid.UUID(int=1)
    assert stmt.execute_sql({"a": one, "b": when, "extra": 3}) == (
        f"EXECUTE demo('2026-11-20T10:00:00+00:00', '{one}')"
    )


def test_a_statement_without_parameters() -> None:
    stmt = Prepared("plain", "SELECT 1", {})
    assert stmt.prepare_sql() == "PREPARE plain AS SELECT 1"
    assert stmt.execute_sql({}) == "EXECUTE plain"


def test_every_placeholder_needs_a_declared_type() -> None:
    with pytest.raises(ValueError, match="no type declared for when"):
        Prepared("bad", "SELECT %(when)s", {})


def test_each_combination_of_write_parts_is_one_named_statement() -> None:
    def write(*parts: str) -> statements.EventWrite:
        w = statements.EventWrite({})
        for part in parts:
            w.add(part)
        return w

    returning = write(statements.UPDATE_CUSTOMER, statements.UPDATE_VISIT).statement()
    again = write(statements.UPDATE_CUSTOMER, statements.UPDATE_VISIT).statement()
    new = write(statements.INSERT_CUSTOMER, statements.INSERT_VISIT).statement()
    assert returning is again
    assert returning.name != new.name and returning.name.startswith("ingest_write_")
    assert "visit_is_new" in new.params and "visit_is_new" not in returning.params


@pytest.mark.parametrize(
    ("value", "pg_type", "sql"),
    [
        (None, "uuid", "NULL"),
        (True, "boolean", "true"),
        (7, "integer", "7"),
        (0.25, "float8", "'0.25'"),
        (np.float32(0.5), "float8", "'0.5'"),
        ("it's a \\ test", "text", "E'it''s a \\\\ test'"),
        (b"\x00\xff", "bytea", "E'\\\\x00ff'"),
        ([uuid.UUID(int=2)], "uuid[]", "ARRAY['00000000-0000-0000-0000-000000000002']::uuid[]"),
        ([], "bytea[]", "ARRAY[]::bytea[]"),
    ],
)
def test_literals(value: object, pg_type: str, sql: str) -> None:
    assert literal(value, pg_type) == sql


def test_literals_refuse_what_postgresql_would_misread() -> None:
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b", "text")
    with pytest.raises(ValueError, match="naive"):
        literal(datetime(2026, 1, 1), "timestamptz")
    with pytest.raises(TypeError, match="sequence"):
        literal([1], "integer")
    with pytest.raises(TypeError, match="no SQL literal"):
        literal({"a": 1}, "jsonb")
