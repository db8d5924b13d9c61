"""appliance.edge.metrics: the worker's /metrics (prometheus_client's exposition) and /healthz."""

from __future__ import annotations

from typing import Any

import httpx

from appliance.edge.metrics import EdgeMetrics, MetricsServer


def test_metrics_and_health_on_one_port() -> None:
    metrics = EdgeMetrics()
    metrics.events_sent.inc()
    health: dict[str, Any] = {"ok": True, "queue": 0}
    server = MetricsServer(metrics, lambda: health, 0)
    base = f"http://127.0.0.1:{server.port}"
    try:
        scraped = httpx.get(f"{base}/metrics")
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        assert "edge_events_sent_total 1.0" in scraped.text
        openmetrics = httpx.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert httpx.get(f"{base}/healthz").json() == {"ok": True, "queue": 0}
        health["ok"] = False
        assert httpx.get(f"{base}/healthz").status_code == 503
        assert httpx.get(f"{base}/elsewhere").status_code == 404
    finally:
        server.close()
