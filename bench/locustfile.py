"""The seed's scenario: POST /v1/events/face at 50 requests/s, p95 reported (the seed asked
< 300 ms with Milvus mocked; here the embedded vector index is real).

    python bench/bench_locust.py      # sets up a database, a server and a worker key, then runs
                                      # `locust -f bench/locustfile.py --headless -u 50 -r 50`

Environment read here: LOCUST_API_KEY, LOCUST_SITE_ID, LOCUST_CAMERA_ID, LOCUST_DIM.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
from locust import HttpUser, constant_throughput, task

from _common import face_event

DIM = int(os.environ.get("LOCUST_DIM", "512"))
RNG = np.random.default_rng()
# A pool of faces, so most events are returning visitors and some are new.
POOL = RNG.standard_normal((200, DIM)).astype(np.float32)
POOL /= np.linalg.norm(POOL, axis=1, keepdims=True)


class EdgeWorker(HttpUser):
    wait_time = constant_throughput(1)  # one event per second per user: -u 50 → 50 rps

    def on_start(self) -> None:
        token = self.client.post(
            "/v1/auth/token", json={"grant_type": "api_key", "api_key": os.environ["LOCUST_API_KEY"]}
        ).json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    @task
    def post_face(self) -> None:
        if RNG.random() < 0.3:
            vector = RNG.standard_normal(DIM).astype(np.float32)
        else:
            base = POOL[RNG.integers(len(POOL))]
            vector = base + 0.03 * RNG.standard_normal(DIM).astype(np.float32)
        vector /= np.linalg.norm(vector)
        self.client.post(
            "/v1/events/face",
            name="/v1/events/face",
            json=face_event(
                os.environ["LOCUST_SITE_ID"],
                os.environ["LOCUST_CAMERA_ID"],
                datetime.now(UTC).replace(microsecond=0).isoformat(),
                vector,
            ),
        )
