"""Prometheus metrics of one app (its own registry, so several apps in one process do not clash)."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Requests by endpoint and status, latency, batch sizes, errors by status, queue depth."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("graft_requests_total", "HTTP requests", ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("graft_request_latency_seconds", "Time to answer a request", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("graft_errors_total", "Requests answered with an error", ["status"], registry=self.registry)
        self.batch_size = Histogram("graft_batch_size", "Inputs per forward pass", ["model"], buckets=BATCH_BUCKETS,
                                    registry=self.registry)
        self.inputs = Counter("graft_inputs_total", "Inputs predicted", ["model"], registry=self.registry)
        self.queue = Gauge("graft_queue_inputs", "Inputs waiting for a forward pass", ["model"], registry=self.registry)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(str(status)).inc()

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model).observe(size)
        self.inputs.labels(model).inc(size)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def endpoint_of(scope: dict[str, Any]) -> str:
    """The route template (``/v2/models/{name}/infer``), so metrics do not grow per model name or URL."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
