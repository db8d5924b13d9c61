"""Vector index behind a small protocol; Milvus (Lite file or server) implements it."""

from appliance.vectors.base import SearchHit, VectorIndex, VectorItem

__all__ = ["SearchHit", "VectorIndex", "VectorItem"]
