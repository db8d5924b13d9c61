"""Offline calibration of the matching policy: pair error rates per threshold, and a replay of a
shuffled stream of labelled faces through the same rules the server applies (``decide``,
``choose_exemplar``), scored by false merges and splits. Pure: the bench feeds it real
embeddings (``bench/bench_recognition.py --mode calibrate``), the unit tests feed it vectors.

How a customer's exemplars are turned into one score is a ``Scorer`` so the alternatives to
"max over exemplars" can be measured against it (ADR 0010).
"""

from __future__ import annotations

import itertools
import random
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

import msgspec
import numpy as np

from appliance.recognition.policy import MatchKind, Thresholds, Vector, choose_exemplar, decide
from appliance.vectors.base import SearchHit

Scorer = Callable[[np.ndarray, np.ndarray], float]
"""(similarities to one customer's exemplars, their qualities) → the customer's score."""


def score_max(sims: np.ndarray, qualities: np.ndarray) -> float:
    """The best exemplar (what the server does)."""
    return float(np.max(sims))


def score_agreement(sims: np.ndarray, qualities: np.ndarray) -> float:
    """Two exemplars must agree: the second best (the only one while there is one)."""
    if len(sims) < 2:
        return float(sims[0])
    return float(np.sort(sims)[-2])


def score_quality_weighted(sims: np.ndarray, qualities: np.ndarray) -> float:
    """Each exemplar counts by its quality: sim · (0.5 + 0.5·quality), a blurred or small exemplar
    counts for less."""
    return float(np.max(sims * (0.5 + 0.5 * qualities)))


SCORERS: dict[str, Scorer] = {
    "max": score_max,
    "agreement": score_agreement,
    "quality": score_quality_weighted,
}


class Face(msgspec.Struct, frozen=True):
    person: str
    vector: Vector
    quality: float


class PairRow(msgspec.Struct, frozen=True):
    threshold: float
    false_accept: float
    """Share of impostor pairs (two people) at or above the threshold."""
    false_reject: float
    """Share of genuine pairs (one person) below it."""


class PairStats(msgspec.Struct, frozen=True):
    genuine: int
    impostor: int
    genuine_min: float
    genuine_mean: float
    impostor_max: float
    impostor_mean: float
    rows: list[PairRow]


def pair_table(faces: Sequence[Face], thresholds: Sequence[float]) -> PairStats:
    genuine: list[float] = []
    impostor: list[float] = []
    for a, b in itertools.combinations(faces, 2):
        (genuine if a.person == b.person else impostor).append(float(a.vector @ b.vector))
    g, i = np.asarray(genuine or [1.0]), np.asarray(impostor or [-1.0])
    rows = [
        PairRow(t, float(np.mean(i >= t)) if impostor else 0.0, float(np.mean(g < t)) if genuine else 0.0)
        for t in thresholds
    ]
    return PairStats(
        genuine=len(genuine),
        impostor=len(impostor),
        genuine_min=float(g.min()),
        genuine_mean=float(g.mean()),
        impostor_max=float(i.max()),
        impostor_mean=float(i.mean()),
        rows=rows,
    )


class StreamResult(msgspec.Struct, frozen=True):
    appearances: int
    people: int
    customers: int
    false_merge: float
    """Share of faces recorded on a customer whose majority is another person."""
    split: float
    """Share of faces not on their person's main customer (and not merged into another's)."""
    suggestions: int
    suggestions_right: int
    """Suggestions whose two customers are really one person (a click repairs the split)."""


def replay(
    faces: Sequence[Face],
    thresholds: Thresholds,
    scorer: Scorer = score_max,
    *,
    max_exemplars: int = 5,
    diversity: float = 0.85,
) -> StreamResult:
    """Feed the faces in order through the server's rules: score each customer, ``decide``, keep
    exemplars by ``choose_exemplar``; uncertain → a new customer plus a suggestion."""
    exemplars: dict[uuid.UUID, list[tuple[Vector, float]]] = {}
    assigned: list[uuid.UUID] = []
    suggestions: list[tuple[uuid.UUID, uuid.UUID]] = []
    for face in faces:
        hits = [
            SearchHit(
                id=customer,
                customer_id=customer,
                score=scorer(np.stack([v for v, _ in kept]) @ face.vector, np.asarray([q for _, q in kept])),
            )
            for customer, kept in exemplars.items()
        ]
        decision = decide(hits, thresholds)
        if decision.customer_id is None:
            customer = uuid.uuid4()
            exemplars[customer] = [(face.vector, face.quality)]
            if decision.kind is MatchKind.UNCERTAIN and decision.candidate_id is not None:
                suggestions.append((customer, decision.candidate_id))
        else:
            customer = decision.customer_id
            kept = exemplars[customer]
            choice = choose_exemplar(
                face.vector, face.quality, kept, max_exemplars=max_exemplars, diversity=diversity
            )
            if choice.action == "add":
                kept.append((face.vector, face.quality))
            elif choice.action == "replace" and choice.replace_index is not None:
                kept[choice.replace_index] = (face.vector, face.quality)
        assigned.append(customer)
    return _score(faces, assigned, suggestions)


def _score(
    faces: Sequence[Face], assigned: Sequence[uuid.UUID], suggestions: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> StreamResult:
    people_on: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    for face, customer in zip(faces, assigned, strict=True):
        people_on[customer][face.person] += 1
    owner = {c: counts.most_common(1)[0][0] for c, counts in people_on.items()}
    merged = sum(1 for f, c in zip(faces, assigned, strict=True) if owner[c] != f.person)
    main: dict[str, uuid.UUID] = {}
    for person in {f.person for f in faces}:
        own = Counter(
            c for f, c in zip(faces, assigned, strict=True) if f.person == person and owner[c] == person
        )
        if own:
            main[person] = own.most_common(1)[0][0]
    split = sum(
        1
        for f, c in zip(faces, assigned, strict=True)
        if owner[c] == f.person and main.get(f.person) not in (None, c)
    )
    right = sum(1 for a, b in suggestions if owner.get(a) == owner.get(b))
    n = max(len(faces), 1)
    return StreamResult(
        appearances=len(faces),
        people=len({f.person for f in faces}),
        customers=len(people_on),
        false_merge=merged / n,
        split=split / n,
        suggestions=len(suggestions),
        suggestions_right=right,
    )


class Spread(msgspec.Struct, frozen=True):
    mean: float
    sd: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    return Spread(
        mean=statistics.fmean(values),
        sd=statistics.pstdev(values) if len(values) > 1 else 0.0,
        low=min(values),
        high=max(values),
    )


def shuffled_streams(faces: Sequence[Face], seeds: Sequence[int]) -> list[list[Face]]:
    """Every face of every person once, in a shuffled order per seed."""
    streams = []
    for seed in seeds:
        order = list(faces)
        random.Random(seed).shuffle(order)
        streams.append(order)
    return streams


def split_people(people: Sequence[str], holdout_every: int = 2) -> tuple[list[str], list[str]]:
    """Calibration and held-out identities: sorted by name, every ``holdout_every``-th one from the
    second on is held out (deterministic, so the halves are the same on every run)."""
    ordered = sorted(people)
    held = [p for i, p in enumerate(ordered) if i % holdout_every == 1]
    return [p for p in ordered if p not in held], held
