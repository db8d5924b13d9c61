"""Column types shared by the tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import LargeBinary
from sqlalchemy.dialects.postgresql import BYTEA
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, UserDefinedType

EMBEDDING_DTYPE = np.dtype(">f4")
"""Big-endian float32, the byte order of PostgreSQL's ``float4send``: migration 0004 converts
the old ``real[]`` columns in SQL with it, and numpy reads it without parsing text."""


def embedding_bytes(values: Sequence[float] | np.ndarray[Any, Any]) -> bytes:
    return np.asarray(values, dtype=EMBEDDING_DTYPE).tobytes()


def embedding_array(raw: bytes | memoryview) -> np.ndarray[Any, Any]:
    """A writable native float32 vector."""
    return np.frombuffer(raw, dtype=EMBEDDING_DTYPE).astype(np.float32)


def embedding_matrix(raw: bytes | memoryview, dim: int) -> np.ndarray[Any, Any]:
    """Concatenated embeddings (``string_agg`` of the column) as a writable (n, dim) float32 array."""
    return np.frombuffer(raw, dtype=EMBEDDING_DTYPE).reshape(-1, dim).astype(np.float32)


class Embedding(TypeDecorator[np.ndarray[Any, Any]]):
    """A float32 vector stored as ``bytea`` (4 bytes per value).

    ``real[]`` cost a text round trip per value in the driver (milliseconds for a 512-D vector
    on every ingest); raw bytes cost nothing. Accepts any float sequence, returns a numpy array.
    """

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(BYTEA()) if dialect.name == "postgresql" else self.impl_instance

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else embedding_bytes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> np.ndarray[Any, Any] | None:
        return None if value is None else embedding_array(value)


class TransactionId(UserDefinedType[int]):
    """PostgreSQL's ``xid8``: a 64-bit transaction id that never wraps (the change cursor)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"
