"""The SQL of the ingest hot path.

Ingest is the one write path that runs hundreds of times a second, so it talks to PostgreSQL in
as few round trips as the rules allow (see ``IngestService``): one statement reads what the
event needs (its stored answer, its camera, the tenant's visit gap) while locking the matched
customer, one reads the customer's open visit and exemplars, and one writes everything —
visit, sighting, exemplars, counters, merge suggestion, live notification — so a conflict on the
sighting rolls the whole event back. Every statement runs inside ``Database.transaction``, so
row-level security applies as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, text

PREFLIGHT = text(
    """
SELECT (SELECT s.response FROM sightings s WHERE s.id = :event_id) AS stored,
       (SELECT c.site_id FROM cameras c WHERE c.id = :camera_id) AS camera_site,
       (SELECT t.visit_gap_minutes FROM tenants t WHERE t.id = :tenant_id) AS gap_minutes
"""
)
"""The event's stored answer (a retry), its camera's site and the tenant's visit gap."""

PREFLIGHT_AND_LOCK = text(
    """
SELECT cu.visit_count,
       (SELECT s.response FROM sightings s WHERE s.id = :event_id) AS stored,
       (SELECT c.site_id FROM cameras c WHERE c.id = :camera_id) AS camera_site,
       (SELECT t.visit_gap_minutes FROM tenants t WHERE t.id = :tenant_id) AS gap_minutes
FROM customers cu WHERE cu.id = :customer_id
FOR UPDATE OF cu
"""
)
"""As PREFLIGHT, and lock the matched customer: everything about one customer happens under its
row lock. No row: the customer was erased since the search."""

LOCK_FOR_NEW_CUSTOMER = text(
    """
SELECT pg_advisory_xact_lock(:lock_key),
       (SELECT c.site_id FROM cameras c WHERE c.id = :camera_id) AS camera_site
"""
)

OPEN_VISIT_AND_EXEMPLARS = text(
    """
SELECT (SELECT v.id FROM visits v
         WHERE v.customer_id = :customer_id AND v.site_id = :site_id
           AND v.last_seen >= :earliest AND v.first_seen <= :latest
         ORDER BY v.last_seen DESC LIMIT 1) AS visit_id,
       ARRAY(SELECT e.id FROM customer_exemplars e
              WHERE e.customer_id = :customer_id ORDER BY e.created_at, e.id) AS exemplar_ids,
       ARRAY(SELECT e.embedding FROM customer_exemplars e
              WHERE e.customer_id = :customer_id ORDER BY e.created_at, e.id) AS embeddings,
       ARRAY(SELECT e.quality FROM customer_exemplars e
              WHERE e.customer_id = :customer_id ORDER BY e.created_at, e.id) AS qualities
"""
)
"""Read after the customer lock (a fresh snapshot): the visit this sighting folds into, if any,
and the customer's exemplars in age order."""

INSERT_FIRST_EXEMPLAR = text(
    """
WITH c AS (
    INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, created_at, updated_at)
    VALUES (:customer_id, :tenant_id, 0, 1, clock_timestamp(), clock_timestamp())
)
INSERT INTO customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality, created_at)
VALUES (:exemplar_id, :tenant_id, :customer_id, :event_id, :embedding, :quality, clock_timestamp())
"""
)
"""A new customer and its first exemplar, under the tenant's new-customer lock: the clock time
(not the transaction's start) makes ``created_at`` grow with the lock order (see recent.py)."""

INSERT_CUSTOMER = """
INSERT INTO customers (id, tenant_id, visit_count, exemplar_count, first_seen, last_seen, gender, age)
VALUES (:customer_id, :tenant_id, :customer_visits, :exemplar_count, :captured_at, :captured_at,
        CAST(:gender AS varchar), CAST(:age AS float8))
"""

UPDATE_CUSTOMER = """
UPDATE customers SET
    visit_count = visit_count + :customer_visits,
    exemplar_count = COALESCE(CAST(:exemplar_count AS integer), exemplar_count),
    first_seen = LEAST(COALESCE(first_seen, :captured_at), :captured_at),
    last_seen = GREATEST(COALESCE(last_seen, :captured_at), :captured_at),
    gender = COALESCE(gender, CAST(:gender AS varchar)),
    age = COALESCE(age, CAST(:age AS float8)),
    updated_at = now()
WHERE id = :customer_id
"""

INSERT_EXEMPLAR = """
INSERT INTO customer_exemplars (id, tenant_id, customer_id, sighting_id, embedding, quality, created_at)
VALUES (:exemplar_id, :tenant_id, :customer_id, :event_id, :embedding, :quality, now())
"""

DELETE_EXEMPLAR = "DELETE FROM customer_exemplars WHERE id = :replaced_exemplar_id"

INSERT_VISIT = """
INSERT INTO visits (id, tenant_id, site_id, customer_id, first_seen, last_seen, sightings,
                    is_new_customer, best_snapshot_key, best_quality, gender, age)
VALUES (:visit_id, :tenant_id, :site_id, :customer_id, :captured_at, :captured_at, 1,
        :visit_is_new, CAST(:snapshot_key AS varchar),
        CASE WHEN CAST(:snapshot_key AS varchar) IS NULL THEN 0.0 ELSE :quality END,
        CAST(:gender AS varchar), CAST(:age AS float8))
"""

# Relative updates: correct whatever else touched the visit since it was read.
UPDATE_VISIT = """
UPDATE visits SET
    first_seen = LEAST(first_seen, :captured_at),
    last_seen = GREATEST(last_seen, :captured_at),
    sightings = sightings + 1,
    best_snapshot_key = CASE WHEN CAST(:snapshot_key AS varchar) IS NOT NULL AND :quality > best_quality
                             THEN CAST(:snapshot_key AS varchar) ELSE best_snapshot_key END,
    best_quality = CASE WHEN CAST(:snapshot_key AS varchar) IS NOT NULL AND :quality > best_quality
                        THEN :quality ELSE best_quality END,
    gender = COALESCE(gender, CAST(:gender AS varchar)),
    age = COALESCE(age, CAST(:age AS float8))
WHERE id = :visit_id
"""

INSERT_SIGHTING = """
INSERT INTO sightings (id, tenant_id, site_id, camera_id, customer_id, staff_id, visit_id, captured_at,
                       received_at, embedding, det_score, quality, similarity, uncertain, is_staff,
                       is_new_customer, gender, age, image_path, model, response)
VALUES (:event_id, :tenant_id, :site_id, :camera_id, :sighting_customer_id, :staff_id,
        :sighting_visit_id, :captured_at, now(), :embedding, :det_score, :quality,
        CAST(:similarity AS float8), :uncertain, :is_staff, :is_new_customer,
        CAST(:gender AS varchar), CAST(:age AS float8), CAST(:snapshot_key AS varchar), :model,
        CAST(:response AS jsonb))
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

INSERT_SUGGESTION = """
INSERT INTO merge_suggestions (id, tenant_id, customer_id, candidate_id, sighting_id, similarity, status,
                               created_at)
VALUES (:suggestion_id, :tenant_id, :customer_id, :candidate_id, :event_id, :suggestion_similarity,
        'open', now())
"""


@dataclass
class EventWrite:
    """The writes of one event, sent as one statement of data-modifying CTEs.

    PostgreSQL runs every CTE even when nothing reads it, checks foreign keys at the end of the
    statement (so a new customer and its first visit can go together), and the final SELECT
    says whether the sighting went in; if it did not, the caller rolls the transaction back.
    """

    params: dict[str, Any]
    parts: list[str] = field(default_factory=list)
    notify: bool = False

    def add(self, sql: str) -> None:
        self.parts.append(sql)

    def statement(self) -> TextClause:
        ctes = [f"w{i} AS ({sql.strip()})" for i, sql in enumerate(self.parts)]
        sighting = f"sighting AS ({INSERT_SIGHTING.strip()})"
        notify = ", pg_notify(:channel, :payload)" if self.notify else ""
        with_clause = ",\n".join([*ctes, sighting])
        return text(f"WITH {with_clause}\nSELECT (SELECT count(*) FROM sighting) AS inserted{notify}")
