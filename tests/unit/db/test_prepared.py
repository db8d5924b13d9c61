"""The PREPARE/EXECUTE forms of a hot-path statement."""

from __future__ import annotations

import pytest

from appliance.db.prepared import Prepared
from appliance.domain.events import statements


def test_placeholders_become_positions_in_order_of_first_use() -> None:
    stmt = Prepared(
        "demo",
        "SELECT %(b)s, %(a)s WHERE x = %(b)s",
        {"a": "uuid", "b": "timestamptz", "unused": "int"},
    )
    assert stmt.params == ("b", "a")
    assert stmt.prepare_sql() == "PREPARE demo(timestamptz, uuid) AS SELECT $1, $2 WHERE x = $1"
    assert stmt.execute_sql() == "EXECUTE demo(%(b)s, %(a)s)"


def test_a_statement_without_parameters() -> None:
    stmt = Prepared("plain", "SELECT 1", {})
    assert stmt.prepare_sql() == "PREPARE plain AS SELECT 1"
    assert stmt.execute_sql() == "EXECUTE plain"


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
