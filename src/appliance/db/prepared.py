"""Server-side prepared statements for the hot ingest path.

The hot path batches several statements into one round trip, which needs PostgreSQL's simple
query protocol, and that protocol parses and plans every statement every time. With row-level
security on every table, planning cost more than executing (ADR 0008). So each statement is PREPAREd once per
connection, with declared parameter types, and the batches carry ``EXECUTE name(literals)``:
planned once, still one round trip. Prepared statements outlive a ROLLBACK, so a failed
transaction does not lose them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Prepared:
    """One SQL statement written with psycopg's ``%(name)s`` placeholders, to be PREPAREd as
    ``name`` with the parameter types from ``types`` (every placeholder must have one)."""

    name: str
    sql: str
    types: Mapping[str, str] = field(repr=False)
    params: tuple[str, ...] = field(init=False, repr=False)
    """The placeholders in order of first appearance: ``$1``, ``$2`` … of the prepared form."""

    def __post_init__(self) -> None:
        order = tuple(dict.fromkeys(_PLACEHOLDER.findall(self.sql)))
        missing = [p for p in order if p not in self.types]
        if missing:
            raise ValueError(f"{self.name}: no type declared for {', '.join(missing)}")
        object.__setattr__(self, "params", order)

    def prepare_sql(self) -> str:
        """``PREPARE name(types) AS …`` with ``$n`` in place of the named placeholders."""
        position = {p: i + 1 for i, p in enumerate(self.params)}
        body = _PLACEHOLDER.sub(lambda m: f"${position[m.group(1)]}", self.sql.strip())
        types = ", ".join(self.types[p] for p in self.params)
        signature = f"({types})" if types else ""
        return f"PREPARE {self.name}{signature} AS {body}"

    def inline_sql(self, values: Mapping[str, Any]) -> str:
        """The statement as plain SQL with ``values`` as typed literals (planned where it runs:
        one-off uses on a connection that did not prepare it)."""
        return _PLACEHOLDER.sub(
            lambda m: (
                f"CAST({literal(values[m.group(1)], self.types[m.group(1)])} AS {self.types[m.group(1)]})"
            ),
            self.sql,
        )

    def execute_sql(self, values: Mapping[str, Any]) -> str:
        """``EXECUTE name(literal, …)`` with the values of this statement's parameters."""
        if not self.params:
            return f"EXECUTE {self.name}"
        args = ", ".join(literal(values[p], self.types[p]) for p in self.params)
        return f"EXECUTE {self.name}({args})"


def literal(value: Any, pg_type: str) -> str:
    """``value`` as an SQL literal for a parameter declared ``pg_type``.

    Our own rendering rather than psycopg's client-side binding, which built a new adapter
    context for every statement (a measurable share of ingest's CPU): the declared types of a
    prepared statement already say how each literal is read, so scalars go as untyped string
    literals and only arrays carry a cast. Strings use the ``E''`` form (quotes doubled,
    backslashes escaped), which reads the same whatever ``standard_conforming_strings`` says.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"'{value!r}'"  # 'nan' and 'inf' included: float8 reads them
    if isinstance(value, uuid.UUID):
        return f"'{value}'"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous as a literal; give it a time zone")
        return f"'{value.isoformat()}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("PostgreSQL text cannot hold NUL characters")
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"E'\\\\x{bytes(value).hex()}'"
    if isinstance(value, list | tuple):
        if not pg_type.endswith("[]"):
            raise TypeError(f"a sequence for a parameter of type {pg_type}")
        element = pg_type[:-2]
        return f"ARRAY[{', '.join(literal(v, element) for v in value)}]::{pg_type}"
    if hasattr(value, "__float__"):  # numpy scalars
        return literal(float(value), pg_type)
    raise TypeError(f"no SQL literal for {type(value).__name__}")
