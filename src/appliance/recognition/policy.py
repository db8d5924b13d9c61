"""The threshold policy and exemplar rules, kept free of I/O so they are unit-tested directly."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from appliance.vectors.base import SearchHit

NORM_TOLERANCE = 1e-3
Vector = npt.NDArray[np.float32]


class MatchKind(enum.StrEnum):
    RETURNING = "returning"
    NEW = "new"
    UNCERTAIN = "uncertain"


class Thresholds(msgspec.Struct, frozen=True):
    match: float = 0.40
    uncertain: float = 0.30

    def __post_init__(self) -> None:
        if not -1.0 <= self.uncertain <= self.match <= 1.0:
            raise ValueError("thresholds must satisfy -1 <= uncertain <= match <= 1")


class Decision(msgspec.Struct, frozen=True):
    kind: MatchKind
    customer_id: uuid.UUID | None
    """The customer the face joins; None: a new customer (also for an uncertain match)."""
    similarity: float | None
    """Best similarity found (None when the tenant has no customers yet)."""
    candidate_id: uuid.UUID | None = None
    """Uncertain: the existing customer it might be — a merge suggestion, never a join."""


def best_per_customer(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Several exemplars of one customer may hit: keep each customer's best, best first."""
    best: dict[uuid.UUID, SearchHit] = {}
    for hit in hits:
        if hit.customer_id not in best or hit.score > best[hit.customer_id].score:
            best[hit.customer_id] = hit
    return sorted(best.values(), key=lambda h: h.score, reverse=True)


def decide(hits: Sequence[SearchHit], thresholds: Thresholds) -> Decision:
    """≥ match → returning; in [uncertain, match) → uncertain: a NEW customer plus a merge
    suggestion with the best candidate; below → new customer.

    Below the match threshold a face never joins an existing customer: a wrong merge silently
    corrupts two people's histories, a split is visible and one click to repair (ADR 0010)."""
    ranked = best_per_customer(hits)
    if not ranked:
        return Decision(kind=MatchKind.NEW, customer_id=None, similarity=None)
    top = ranked[0]
    if top.score >= thresholds.match:
        return Decision(kind=MatchKind.RETURNING, customer_id=top.customer_id, similarity=top.score)
    if top.score >= thresholds.uncertain:
        return Decision(
            kind=MatchKind.UNCERTAIN, customer_id=None, similarity=top.score, candidate_id=top.customer_id
        )
    return Decision(kind=MatchKind.NEW, customer_id=None, similarity=top.score)


def embedding_problem(values: Sequence[float], dim: int) -> str | None:
    """Why an embedding is unusable, or None: wrong length, NaN/inf, not L2-normalised."""
    if len(values) != dim:
        return f"has {len(values)} values; the configured embedder produces {dim}"
    total = 0.0
    for value in values:
        if not math.isfinite(value):
            return "contains NaN or infinity"
        total += value * value
    norm = math.sqrt(total)
    if abs(norm - 1.0) > NORM_TOLERANCE:
        return f"is not L2-normalised (norm {norm:.4f})"
    return None


def as_vector(values: Sequence[float]) -> Vector:
    return np.asarray(values, dtype=np.float32)


class ExemplarChoice(msgspec.Struct, frozen=True):
    action: str
    """"add", "replace" or "skip"."""
    replace_index: int | None = None


def choose_exemplar(
    candidate: Vector,
    quality: float,
    kept: Sequence[tuple[Vector, float]],
    *,
    max_exemplars: int,
    diversity: float,
    min_quality: float = 0.5,
) -> ExemplarChoice:
    """Keep a few *diverse*, good exemplars per customer rather than the first N.

    A candidate too similar (≥ diversity) to a kept one adds nothing; while there is room a
    diverse one is added; when full it replaces the lowest-quality exemplar if it is better.
    """
    if quality < min_quality and kept:
        return ExemplarChoice("skip")
    if not kept:
        return ExemplarChoice("add")
    matrix = np.stack([vec for vec, _ in kept])
    if float(np.max(matrix @ candidate)) >= diversity:
        return ExemplarChoice("skip")
    if len(kept) < max_exemplars:
        return ExemplarChoice("add")
    worst = min(range(len(kept)), key=lambda i: kept[i][1])
    if quality > kept[worst][1]:
        return ExemplarChoice("replace", worst)
    return ExemplarChoice("skip")


def best_match(
    candidate: Vector, gallery: Sequence[tuple[uuid.UUID, Vector]]
) -> tuple[uuid.UUID | None, float]:
    """Best (owner id, similarity) of a candidate against a small in-memory gallery."""
    if not gallery:
        return None, -1.0
    matrix = np.stack([vec for _, vec in gallery])
    scores = matrix @ candidate
    index = int(np.argmax(scores))
    return gallery[index][0], float(scores[index])
