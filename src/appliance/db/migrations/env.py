"""Alembic environment: runs on the owner connection handed over by ``appliance migrate``."""

from __future__ import annotations

from alembic import context

from appliance.db.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `appliance migrate`")
context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
