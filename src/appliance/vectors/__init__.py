"""The vector index: exact search in each API process (default) or a Milvus server (ADR 0008)."""
