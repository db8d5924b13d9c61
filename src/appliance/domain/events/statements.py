"""The SQL of the ingest hot path.

Ingest is the one write path that runs hundreds of times a second, so it talks to PostgreSQL in
two round trips per event (see ``IngestService``, ADR 0008), on a raw psycopg connection
(``Database.fast_transaction``): (1) BEGIN, the row-level-security context, a preflight that
reads the event's stored answer and camera while locking the matched customer, and the
customer's open visit and exemplars, as one batch; (2) one write — visit, sighting, exemplars,
counters, merge suggestion — and COMMIT, as another. The live-stream NOTIFY goes after the
commit, batched (``notify.py``). Every statement is prepared once per connection
(``db/prepared.py``); parameters are psycopg's ``%(name)s``, their types are in ``TYPES``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from appliance.db.prepared import Prepared

TYPES = {
    "tenant_id": "uuid",
    "event_id": "uuid",
    "site_id": "uuid",
    "camera_id": "uuid",
    "customer_id": "uuid",
    "visit_id": "uuid",
    "exemplar_id": "uuid",
    "replaced_exemplar_id": "uuid",
    "sighting_customer_id": "uuid",
    "sighting_visit_id": "uuid",
    "staff_id": "uuid",
    "suggestion_id": "uuid",
    "candidate_id": "uuid",
    "captured_at": "timestamptz",
    "embedding": "bytea",
    "det_score": "float8",
    "quality": "float8",
    "age": "float8",
    "similarity": "float8",
    "suggestion_similarity": "float8",
    "gender": "varchar",
    "snapshot_key": "varchar",
    "model": "varchar",
    "response": "jsonb",
    "lock_key": "bigint",
    "camera_ids": "uuid[]",
    "site_ids": "uuid[]",
    "visit_ids": "uuid[]",
    "captured_ats": "timestamptz[]",
    "genders": "varchar[]",
    "ages": "float8[]",
    "snapshot_keys": "varchar[]",
    "det_scores": "float8[]",
    "similarities": "float8[]",
    "models": "varchar[]",
    "responses": "jsonb[]",
    "customer_ids": "uuid[]",
    "candidate_ids": "uuid[]",
    "suggestion_ids": "uuid[]",
    "exemplar_ids": "uuid[]",
    "event_ids": "uuid[]",
    "embeddings": "bytea[]",
    "qualities": "float8[]",
    "visit_is_new": "boolean",
    "uncertain": "boolean",
    "is_staff": "boolean",
    "is_new_customer": "boolean",
    "customer_visits": "integer",
    "exemplar_count": "integer",
}
"""The type of every parameter of the ingest statements (PREPARE declares them)."""


def prepared(name: str, sql: str) -> Prepared:
    return Prepared(f"ingest_{name}", sql, TYPES)


_EVENT_FACTS = """(SELECT s.response FROM sightings s WHERE s.id = %(event_id)s) AS stored,
       (SELECT c.site_id FROM cameras c WHERE c.id = %(camera_id)s) AS camera_site"""

PREFLIGHT = prepared("preflight", f"SELECT {_EVENT_FACTS}")
"""The event's stored answer (a retry) and its camera's site."""

PREFLIGHT_AND_LOCK = prepared(
    "preflight_and_lock",
    f"""
SELECT cu.visit_count,
       {_EVENT_FACTS}
FROM customers cu WHERE cu.id = %(customer_id)s
FOR UPDATE OF cu
""",
)
"""As PREFLIGHT, and lock the matched customer: everything about one customer happens under its
row lock. No row: the customer was erased since the search."""

LOCK_FOR_NEW_CUSTOMERS = prepared("lock_for_new_customers", "SELECT pg_advisory_xact_lock(%(lock_key)s)")
"""The tenant's new-customer lock (``newcomers.py``), held until the transaction ends."""

CAMERA_SITES = prepared(
    "camera_sites", "SELECT c.id, c.site_id FROM cameras c WHERE c.id = ANY(%(camera_ids)s)"
)

RECORDED_EVENTS = prepared(
    "recorded_events", "SELECT s.id, s.response FROM sightings s WHERE s.id = ANY(%(event_ids)s)"
)
"""Which of these events are recorded already, with their answers (a retry, or the same event id
again with another face: it gets the first answer and creates nothing)."""

OPEN_VISIT_AND_EXEMPLARS = prepared(
    "open_visit_and_exemplars",
    """
SELECT (SELECT v.id FROM visits v
         WHERE v.customer_id = %(customer_id)s AND v.site_id = %(site_id)s
           AND v.last_seen >= %(captured_at)s - gap.width AND v.first_seen <= %(captured_at)s + gap.width
         ORDER BY v.last_seen DESC LIMIT 1) AS visit_id,
       ARRAY(SELECT e.id FROM customer_exemplars e
              WHERE e.customer_id = %(customer_id)s ORDER BY e.created_at, e.id) AS exemplar_ids,
       (SELECT string_agg(e.embedding, ''::bytea ORDER BY e.created_at, e.id) FROM customer_exemplars e
         WHERE e.customer_id = %(customer_id)s) AS embeddings,
       ARRAY(SELECT e.quality FROM customer_exemplars e
              WHERE e.customer_id = %(customer_id)s ORDER BY e.created_at, e.id) AS qualities
FROM (SELECT make_interval(mins => COALESCE(
        (SELECT t.visit_gap_minutes FROM tenants t WHERE t.id = %(tenant_id)s), 30)) AS width) gap
""",
)
"""Read after the customer lock (a fresh snapshot): the visit this sighting folds into, if any,
and the customer's exemplars in age order. The embeddings come as one concatenated ``bytea``:
the simple protocol answers in text, and one bytea decodes in C where a ``bytea[]`` was parsed
in Python (a measurable share of ingest's CPU)."""

INSERT_FIRST_EXEMPLARS = prepared(
    "insert_first_exemplars",
    """
WITH created AS (
    SELECT * FROM unnest(%(customer_ids)s, %(exemplar_ids)s, %(event_ids)s, %(embeddings)s, %(qualities)s)
        AS r(customer_id, exemplar_id, event_id, embedding, quality)
), c AS (
    INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, created_at, updated_at)
    SELECT customer_id, %(tenant_id)s, 0, 1, clock_timestamp(), clock_timestamp() FROM created
)
INSERT INTO customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality, created_at)
SELECT exemplar_id, %(tenant_id)s, customer_id, event_id, embedding, quality, clock_timestamp() FROM created
""",
)
"""New customers, each with its first exemplar, under the tenant's new-customer lock: the clock
time (not the transaction's start) makes ``created_at`` grow with the lock order (see recent.py)."""

INSERT_NEW_CUSTOMERS_WITH_VISITS = prepared(
    "insert_new_customers_with_visits",
    """
WITH created AS (
    SELECT * FROM unnest(%(customer_ids)s, %(exemplar_ids)s, %(event_ids)s, %(embeddings)s, %(qualities)s,
                         %(visit_ids)s, %(site_ids)s, %(camera_ids)s, %(captured_ats)s, %(genders)s, %(ages)s,
                         %(snapshot_keys)s, %(det_scores)s, %(similarities)s, %(models)s, %(responses)s,
                         %(candidate_ids)s, %(suggestion_ids)s)
        AS r(customer_id, exemplar_id, event_id, embedding, quality, visit_id, site_id, camera_id,
             captured_at, gender, age, snapshot_key, det_score, similarity, model, response,
             candidate_id, suggestion_id)
), c AS (
    INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, first_seen, last_seen, gender, age,
                           created_at, updated_at)
    SELECT customer_id, %(tenant_id)s, 1, 1, captured_at, captured_at, gender, age, clock_timestamp(),
           clock_timestamp()
    FROM created
), e AS (
    INSERT INTO customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality, created_at)
    SELECT exemplar_id, %(tenant_id)s, customer_id, event_id, embedding, quality, clock_timestamp()
    FROM created
), v AS (
    INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, sightings,
                        is_new_customer, best_snapshot_key, best_quality, gender, age)
    SELECT visit_id, %(tenant_id)s, site_id, customer_id, captured_at, captured_at, 1, true, snapshot_key,
           CASE WHEN snapshot_key IS NULL THEN 0.0 ELSE quality END, gender, age
    FROM created
), s AS (
    INSERT INTO sightings (id, tenant_id, site_id, camera_id, customer_id, staff_id, visit_id, captured_at,
                           received_at, embedding, det_score, quality, similarity, uncertain, is_staff,
                           is_new_customer, gender, age, image_path, model, response)
    SELECT event_id, %(tenant_id)s, site_id, camera_id, customer_id, NULL, visit_id, captured_at, now(),
           embedding, det_score, quality, similarity, candidate_id IS NOT NULL, false, true, gender, age,
           snapshot_key, model, response
    FROM created
), m AS (
    INSERT INTO merge_suggestions (id, tenant_id, customer_id, candidate_id, sighting_id, similarity, status,
                                   created_at)
    SELECT suggestion_id, %(tenant_id)s, customer_id, candidate_id, event_id, similarity, 'open', now()
    FROM created WHERE candidate_id IS NOT NULL
)
SELECT count(*) FROM created
""",
)
"""As INSERT_FIRST_EXEMPLARS, and each new customer's event recorded in the same statement: its
first visit and its sighting (with the answer), as the event's own write would have — a new face
then costs one transaction, not two. An uncertain face (a candidate id) also gets its merge
suggestion. A sighting that exists already (a concurrent delivery of
the same event recorded it) fails the whole statement; the batch then runs again without it."""

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
SELECT %(suggestion_id)s, %(tenant_id)s, %(customer_id)s, %(candidate_id)s, %(event_id)s,
       %(suggestion_similarity)s, 'open', now()
WHERE NOT EXISTS (
    SELECT 1 FROM merge_suggestions d
    WHERE d.status = 'dismissed'
      AND ((d.customer_id = %(customer_id)s AND d.candidate_id = %(candidate_id)s)
        OR (d.customer_id = %(candidate_id)s AND d.candidate_id = %(customer_id)s)))
"""
"""A pair a manager dismissed ("not the same person") is not suggested again."""


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

    def statement(self) -> Prepared:
        """The prepared form; one per combination of parts (a dozen or so)."""
        key = tuple(self.parts)
        statement = _WRITES.get(key)
        if statement is None:
            ctes = [f"w{i} AS ({sql.strip()})" for i, sql in enumerate(self.parts)]
            sighting = f"sighting AS ({INSERT_SIGHTING.strip()})"
            with_clause = ",\n".join([*ctes, sighting])
            sql = f"WITH {with_clause}\nSELECT (SELECT count(*) FROM sighting) AS inserted"
            digest = hashlib.blake2b(sql.encode(), digest_size=6).hexdigest()
            statement = _WRITES[key] = prepared(f"write_{digest}", sql)
        return statement


_WRITES: dict[tuple[str, ...], Prepared] = {}
