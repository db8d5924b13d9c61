"""The SQL of the ingest hot path.

Ingest is the one write path that runs hundreds of times a second, so it talks to PostgreSQL in
three round trips per event (see ``IngestService``, ADR 0006), on a raw psycopg connection
(``Database.fast_transaction``): (1) BEGIN, the row-level-security context, a preflight that
reads the event's stored answer and camera while locking the matched customer, and the
customer's open visit and exemplars, as one batch; (2) one write — visit, sighting, exemplars,
counters, merge suggestion; (3) COMMIT. The live-stream NOTIFY goes after the commit, batched
(``notify.py``). Parameters are psycopg's ``%(name)s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_EVENT_FACTS = """(SELECT s.response FROM sightings s WHERE s.id = %(event_id)s) AS stored,
       (SELECT c.site_id FROM cameras c WHERE c.id = %(camera_id)s) AS camera_site"""

PREFLIGHT = f"SELECT {_EVENT_FACTS}"
"""The event's stored answer (a retry) and its camera's site."""

PREFLIGHT_AND_LOCK = f"""
SELECT cu.visit_count,
       {_EVENT_FACTS}
FROM customers cu WHERE cu.id = %(customer_id)s
FOR UPDATE OF cu
"""
"""As PREFLIGHT, and lock the matched customer: everything about one customer happens under its
row lock. No row: the customer was erased since the search."""

LOCK_FOR_NEW_CUSTOMER = """
SELECT pg_advisory_xact_lock(%(lock_key)s),
       (SELECT c.site_id FROM cameras c WHERE c.id = %(camera_id)s) AS camera_site
"""

OPEN_VISIT_AND_EXEMPLARS = """
SELECT (SELECT v.id FROM visits v
         WHERE v.customer_id = %(customer_id)s AND v.site_id = %(site_id)s
           AND v.last_seen >= %(captured_at)s - gap.width AND v.first_seen <= %(captured_at)s + gap.width
         ORDER BY v.last_seen DESC LIMIT 1) AS visit_id,
       ARRAY(SELECT e.id FROM customer_exemplars e
              WHERE e.customer_id = %(customer_id)s ORDER BY e.created_at, e.id) AS exemplar_ids,
       ARRAY(SELECT e.embedding FROM customer_exemplars e
              WHERE e.customer_id = %(customer_id)s ORDER BY e.created_at, e.id) AS embeddings,
       ARRAY(SELECT e.quality FROM customer_exemplars e
              WHERE e.customer_id = %(customer_id)s ORDER BY e.created_at, e.id) AS qualities
FROM (SELECT make_interval(mins => COALESCE(
        (SELECT t.visit_gap_minutes FROM tenants t WHERE t.id = %(tenant_id)s), 30)) AS width) gap
"""
"""Read after the customer lock (a fresh snapshot): the visit this sighting folds into, if any,
and the customer's exemplars in age order."""

INSERT_FIRST_EXEMPLAR = """
WITH c AS (
    INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, created_at, updated_at)
    VALUES (%(customer_id)s, %(tenant_id)s, 0, 1, clock_timestamp(), clock_timestamp())
)
INSERT INTO customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality, created_at)
VALUES (%(exemplar_id)s, %(tenant_id)s, %(customer_id)s, %(event_id)s, %(embedding)s, %(quality)s,
        clock_timestamp())
"""
"""A new customer and its first exemplar, under the tenant's new-customer lock: the clock time
(not the transaction's start) makes ``created_at`` grow with the lock order (see recent.py)."""

INSERT_CUSTOMER = """
INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, first_seen, last_seen, gender, age)
VALUES (%(customer_id)s, %(tenant_id)s, %(customer_visits)s, %(exemplar_count)s, %(captured_at)s,
        %(captured_at)s,
        CAST(%(gender)s AS varchar), CAST(%(age)s AS float8))
"""

UPDATE_CUSTOMER = """
UPDATE customers SET
    visit_count = visit_count + %(customer_visits)s,
    exemplar_count = COALESCE(CAST(%(exemplar_count)s AS integer), exemplar_count),
    first_seen = LEAST(COALESCE(first_seen, %(captured_at)s), %(captured_at)s),
    last_seen = GREATEST(COALESCE(last_seen, %(captured_at)s), %(captured_at)s),
    gender = COALESCE(gender, CAST(%(gender)s AS varchar)),
    age = COALESCE(age, CAST(%(age)s AS float8)),
    updated_at = now()
WHERE id = %(customer_id)s
"""

INSERT_EXEMPLAR = """
INSERT INTO customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality, created_at)
VALUES (%(exemplar_id)s, %(tenant_id)s, %(customer_id)s, %(event_id)s, %(embedding)s, %(quality)s, now())
"""

DELETE_EXEMPLAR = "DELETE FROM customer_exemplars WHERE id = %(replaced_exemplar_id)s"

INSERT_VISIT = """
INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, sightings,
                    is_new_customer, best_snapshot_key, best_quality, gender, age)
VALUES (%(visit_id)s, %(tenant_id)s, %(site_id)s, %(customer_id)s, %(captured_at)s, %(captured_at)s, 1,
        %(visit_is_new)s, CAST(%(snapshot_key)s AS varchar),
        CASE WHEN CAST(%(snapshot_key)s AS varchar) IS NULL THEN 0.0 ELSE %(quality)s END,
        CAST(%(gender)s AS varchar), CAST(%(age)s AS float8))
"""

# Relative updates: correct whatever else touched the visit since it was read.
UPDATE_VISIT = """
UPDATE visits SET
    first_seen = LEAST(first_seen, %(captured_at)s),
    last_seen = GREATEST(last_seen, %(captured_at)s),
    sightings = sightings + 1,
    best_snapshot_key = CASE WHEN CAST(%(snapshot_key)s AS varchar) IS NOT NULL AND %(quality)s > best_quality
                             THEN CAST(%(snapshot_key)s AS varchar) ELSE best_snapshot_key END,
    best_quality = CASE WHEN CAST(%(snapshot_key)s AS varchar) IS NOT NULL AND %(quality)s > best_quality
                        THEN %(quality)s ELSE best_quality END,
    gender = COALESCE(gender, CAST(%(gender)s AS varchar)),
    age = COALESCE(age, CAST(%(age)s AS float8))
WHERE id = %(visit_id)s
"""

INSERT_SIGHTING = """
INSERT INTO sightings (id, tenant_id, site_id, camera_id, customer_id, staff_id, visit_id, captured_at,
                       received_at, embedding, det_score, quality, similarity, uncertain, is_staff,
                       is_new_customer, gender, age, image_path, model, response)
VALUES (%(event_id)s, %(tenant_id)s, %(site_id)s, %(camera_id)s, %(sighting_customer_id)s, %(staff_id)s,
        %(sighting_visit_id)s, %(captured_at)s, now(), %(embedding)s, %(det_score)s, %(quality)s,
        CAST(%(similarity)s AS float8), %(uncertain)s, %(is_staff)s, %(is_new_customer)s,
        CAST(%(gender)s AS varchar), CAST(%(age)s AS float8), CAST(%(snapshot_key)s AS varchar), %(model)s,
        CAST(%(response)s AS jsonb))
RETURNING id
"""

INSERT_SUGGESTION = """
INSERT INTO merge_suggestions (id, tenant_id, customer_id, candidate_id, sighting_id, similarity, status,
                               created_at)
VALUES (%(suggestion_id)s, %(tenant_id)s, %(customer_id)s, %(candidate_id)s, %(event_id)s,
        %(suggestion_similarity)s,
        'open', now())
"""


@dataclass
class EventWrite:
    """The writes of one event, sent as one statement of data-modifying CTEs.

    PostgreSQL runs every CTE even when nothing reads it and checks foreign keys at the end of
    the statement (so a new customer and its first visit can go together). A sighting that
    exists already (a concurrent retry won) fails the statement with a unique violation; the
    caller rolls back and replays the stored answer.
    """

    params: dict[str, Any]
    parts: list[str] = field(default_factory=list)

    def add(self, sql: str) -> None:
        self.parts.append(sql)

    def statement(self) -> str:
        ctes = [f"w{i} AS ({sql.strip()})" for i, sql in enumerate(self.parts)]
        sighting = f"sighting AS ({INSERT_SIGHTING.strip()})"
        with_clause = ",\n".join([*ctes, sighting])
        return f"WITH {with_clause}\nSELECT (SELECT count(*) FROM sighting) AS inserted"
