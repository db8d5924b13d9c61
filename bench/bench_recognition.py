"""Recognition quality through the real API: every photo in ../shared/faces, each person appearing
several times in shuffled order (real detector + embedder, real PostgreSQL + the embedded vector index).

    python bench/bench_recognition.py [--rounds 3] [--faces ../shared/faces]

Reports false merges (two people sharing one customer) and splits (one person spread over
several customers). Targets: false-merge < 0.5 %, split < 3 %.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from _common import REPO, bench_database, main_guard, require_postgres, serve


def embed_photos(faces: Path, models: Path) -> list[tuple[str, list[float], float]]:
    from appliance.config import load_settings
    from appliance.edge.vision import Vision, decode_image

    vision = Vision.from_settings(load_settings(env={}, models_dir=str(models)))
    out = []
    for person in sorted(p for p in faces.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for photo in sorted(person.glob("*.jpg")):
            image = decode_image(photo.read_bytes())
            found = vision.detector.detect(image)
            if found:
                out.append(
                    (person.name, [float(x) for x in vision.embed_faces(image, found[:1])[0]], found[0].score)
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    args = parser.parse_args()
    models = Path(os.environ.get("APPLIANCE_MODELS_DIR") or REPO.parent / "shared" / "models")
    require_postgres()
    photos = embed_photos(args.faces, models)
    people = sorted({p for p, _, _ in photos})
    print(
        f"\n== recognition: {len(photos)} face photos of {len(people)} people"
        f" x {args.rounds} rounds, shuffled =="
    )
    appearances = [p for _ in range(args.rounds) for p in photos]
    random.Random(5).shuffle(appearances)
    with bench_database("recognition") as settings:
        tenant, site, camera = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        with psycopg.connect(settings.database_url) as conn:
            conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'bench-recognition')", (tenant,))
            conn.execute(
                "INSERT INTO sites (id, tenant_id, name, timezone) VALUES (%s, %s, 's', 'UTC')",
                (site, tenant),
            )
            conn.execute(
                "INSERT INTO cameras (id, tenant_id, site_id, name, source) VALUES (%s, %s, %s, 'c', '0')",
                (camera, tenant, site),
            )
        from appliance.domain.auth.principal import Principal, Role
        from appliance.domain.auth.tokens import TokenIssuer

        with serve(settings, APPLIANCE_MODELS_DIR=str(models), APPLIANCE_LOG_LEVEL="WARNING") as url:
            # A worker token straight from the issuer (the bench is not about API keys).
            token = TokenIssuer.from_settings(settings).issue(
                Principal(sub=f"apikey:{uuid.uuid4()}", role=Role.WORKER, tenant_id=tenant, site_ids=(site,))
            )
            key_id = uuid.UUID(TokenIssuer.from_settings(settings).verify(token).sub.split(":")[1])
            with psycopg.connect(settings.database_url) as conn:
                conn.execute(
                    "INSERT INTO api_keys (id, tenant_id, site_id, name, secret_hash)"
                    " VALUES (%s, %s, %s, 'b', %s)",
                    (key_id, tenant, site, "0" * 64),
                )
            customer_of: dict[str, list[str]] = defaultdict(list)
            start = datetime(2026, 11, 20, 8, tzinfo=UTC)
            with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
                for i, (person, embedding, score) in enumerate(appearances):
                    body = {
                        "event_id": str(uuid.uuid4()),
                        "site_id": str(site),
                        "camera_id": str(camera),
                        "captured_at": (start + timedelta(minutes=45 * i)).isoformat(),
                        "embedding": embedding,
                        "det_score": min(score, 1.0),
                        "bbox": [10, 10, 100, 120],
                        "landmarks": [[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]],
                        "quality": 0.8,
                        "is_staff_local": False,
                        "model": {"name": "stand-in", "version": "1"},
                    }
                    answer = http.post("/v1/events/face", json=body)
                    answer.raise_for_status()
                    customer_of[person].append(answer.json()["customer_id"])
    people_of: dict[str, set[str]] = defaultdict(set)
    for person, customers in customer_of.items():
        for customer in customers:
            people_of[customer].add(person)
    merged_pairs = sum(len(ps) * (len(ps) - 1) // 2 for ps in people_of.values())
    pairs = len(list(itertools.combinations(people, 2)))
    # Split: an appearance not assigned to that person's majority customer.
    split = sum(len(c) - max(c.count(x) for x in set(c)) for c in customer_of.values())
    merge_rate, split_rate = merged_pairs / max(pairs, 1), split / len(appearances)
    print(f"  customers created {len(people_of)} for {len(people)} people; appearances {len(appearances)}")
    print(f"  false merges: {merged_pairs} of {pairs} person pairs ({merge_rate:.2%})")
    print(
        f"  splits: {split} of {len(appearances)} appearances off their person's main customer"
        f" ({split_rate:.2%})"
    )
    print(f"RESULT recognition_false_merge={merge_rate * 100:.2f} % target=<0.5%")
    print(f"RESULT recognition_split={split_rate * 100:.2f} % target=<3%")


if __name__ == "__main__":
    main_guard(main)
