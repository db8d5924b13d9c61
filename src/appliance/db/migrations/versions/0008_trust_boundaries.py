"""trust boundaries (issue 18): event ids are idempotency keys per tenant; user tokens carry a version

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:20:00

- ``sightings``: the primary key becomes ``(id, tenant_id)``. The edge's event id is the
  idempotency key of one tenant's event: the same id in another tenant is simply another event
  (before, it collided with the other tenant's row, an existence oracle that also left the new
  customer it had created behind). Every reader runs under RLS, so ``id = …`` still uses it.
- ``users.token_version``: a user's tokens carry the version they were issued at; disabling the
  user or changing its password, role or sites raises it, and every request checks it, so an
  existing token stops working at once (not when it expires).
- Timestamps of events, visits and customers must lie in [2000-01-01, 2200-01-01): ingest bounds
  ``captured_at`` to a window around the server's clock, and these CHECKs keep any other path
  from storing an instant that breaks every read (year 1 with +14:00 is a BC timestamp in UTC,
  which the driver cannot read). Rows stored before are repaired first: a sighting takes the
  time it was received, a visit and a customer the range of what remains under them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


EARLIEST, LATEST = "2000-01-01 00:00:00+00", "2200-01-01 00:00:00+00"
TIMESTAMPS = {
    "sightings": ("captured_at",),
    "visits": ("first_seen", "last_seen"),
    "customers": ("first_seen", "last_seen"),
}


def inside(column: str) -> str:
    return f"{column} >= '{EARLIEST}' AND {column} < '{LATEST}'"


def outside(*columns: str) -> str:
    return " OR ".join(f"NOT ({inside(c)})" for c in columns)


REPAIR = [
    f"UPDATE sightings SET captured_at = received_at WHERE {outside('captured_at')}",
    f"""UPDATE visits v SET first_seen = s.first, last_seen = s.last
        FROM (SELECT visit_id, min(captured_at) AS first, max(captured_at) AS last
              FROM sightings WHERE visit_id IS NOT NULL GROUP BY visit_id) s
        WHERE s.visit_id = v.id AND ({outside("v.first_seen", "v.last_seen")})""",
    f"""UPDATE visits SET first_seen = LEAST(GREATEST(first_seen, '{EARLIEST}'), now()),
                          last_seen = LEAST(GREATEST(last_seen, '{EARLIEST}'), now())
        WHERE {outside("first_seen", "last_seen")}""",
    f"""UPDATE customers c SET first_seen = v.first, last_seen = v.last
        FROM (SELECT customer_id, min(first_seen) AS first, max(last_seen) AS last
              FROM visits GROUP BY customer_id) v
        WHERE v.customer_id = c.id AND ({outside("c.first_seen", "c.last_seen")})""",
    f"""UPDATE customers SET first_seen = LEAST(GREATEST(first_seen, '{EARLIEST}'), now()),
                             last_seen = LEAST(GREATEST(last_seen, '{EARLIEST}'), now())
        WHERE {outside("first_seen", "last_seen")}""",
]


def upgrade() -> None:
    op.drop_constraint("pk_sightings", "sightings", type_="primary")
    op.create_primary_key("pk_sightings", "sightings", ["id", "tenant_id"])
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    # The repair runs over every tenant: the owner sets RLS aside on these tables meanwhile.
    for table in TIMESTAMPS:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for statement in REPAIR:
        op.execute(statement)
    for table, columns in TIMESTAMPS.items():
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for column in columns:
            op.create_check_constraint(op.f(f"ck_{table}_{column}_in_range"), table, inside(column))


def downgrade() -> None:
    for table, columns in TIMESTAMPS.items():
        for column in columns:
            op.drop_constraint(op.f(f"ck_{table}_{column}_in_range"), table, type_="check")
    op.drop_column("users", "token_version")
    # Fails when two tenants share an event id: those rows cannot go back under one key.
    op.drop_constraint("pk_sightings", "sightings", type_="primary")
    op.create_primary_key("pk_sightings", "sightings", ["id"])
