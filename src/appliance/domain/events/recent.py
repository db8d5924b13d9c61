"""Customers created in the last seconds, by any API process: they may not be searchable yet.

A new customer's first exemplar reaches the vector index through a write-behind flush (within
a second or two, longer on a busy Milvus server). Before creating another customer, ingest checks
the face against every first exemplar of the last ``RECENT_WINDOW``. Those rows are written
under the tenant's new-customer lock with the database clock (``clock_timestamp()``), so their
``created_at`` only grows; this gallery reads each of them once, from a watermark, instead of
the whole window on every new face.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from appliance.db.base import utcnow
from appliance.db.prepared import Prepared
from appliance.db.types import embedding_array
from appliance.recognition.policy import Vector
from appliance.vectors.buffer import VectorBuffer

RECENT_WINDOW = timedelta(seconds=15)
OVERLAP = timedelta(seconds=1)
"""Read again behind the watermark, for clock adjustments on the database server."""

FIRST_EXEMPLARS_SINCE = Prepared(
    "ingest_first_exemplars_since",
    """
SELECT e.id, e.customer_id, e.embedding, c.created_at
FROM customers c JOIN customer_exemplars e ON e.customer_id = c.id
WHERE c.created_at > %(since)s AND NOT (e.id = ANY(%(known)s))
ORDER BY c.created_at
""",
    {"since": "timestamptz", "known": "uuid[]"},
)
"""Exemplars of the customers created since ``since``, but those already held. The exemplars are
found through their customer (``customer_id`` index): a condition on their own ``created_at``
(redundant: a customer's exemplars are never older than the customer) let the planner join the
two time ranges with a filter, 4-12 ms per read under ingest load."""


@dataclass
class RecentFirsts:
    """One tenant's recent first exemplars: id → (customer, vector, created_at)."""

    entries: OrderedDict[uuid.UUID, tuple[uuid.UUID, datetime]] = field(default_factory=OrderedDict)
    """exemplar id → (customer, created_at), oldest first; the vectors are in ``vectors``."""
    vectors: VectorBuffer = field(default_factory=VectorBuffer)
    watermark: datetime | None = None

    def since(self) -> datetime:
        """Where the next read starts: the watermark (less an overlap), at most the window."""
        since = utcnow() - RECENT_WINDOW
        if self.watermark is not None:
            since = max(since, self.watermark - OVERLAP)
        return since

    def read_params(self) -> dict[str, Any]:
        """Parameters of ``FIRST_EXEMPLARS_SINCE``: from ``since()``, without the exemplars
        already held from there on (the overlap is read again for its new rows only; each held
        row would cost 2 KB of embedding per read)."""
        since = self.since()
        known: list[uuid.UUID] = []
        for exemplar_id, (_, created_at) in reversed(self.entries.items()):
            if created_at <= since:
                break
            known.append(exemplar_id)
        return {"since": since, "known": known}

    def absorb(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Take the rows of ``FIRST_EXEMPLARS_SINCE`` read from ``since()``; returns how many."""
        for exemplar_id, customer_id, embedding, created_at in rows:
            if exemplar_id not in self.entries:
                self.entries[exemplar_id] = (customer_id, created_at)
                self.vectors.add(exemplar_id, customer_id, embedding_array(embedding))
            if self.watermark is None or created_at > self.watermark:
                self.watermark = created_at
        self._prune()
        return len(rows)

    def _prune(self) -> None:
        if self.watermark is None:
            return
        horizon = self.watermark - RECENT_WINDOW
        while self.entries:
            exemplar_id, (_, created_at) = next(iter(self.entries.items()))
            if created_at >= horizon:
                break
            self.entries.popitem(last=False)
            self.vectors.remove(exemplar_id)

    def best(self, vector: Vector) -> tuple[uuid.UUID | None, float]:
        """The customer whose recent first exemplar is most similar, and the similarity."""
        return self.vectors.best(vector)
