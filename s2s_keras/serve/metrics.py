"""The server's Prometheus metrics, at `/monitoring/prometheus/metrics`.

TF Serving's path, scraped as Prometheus scrapes any target. Each app has
its own registry (`Metrics.registry`), so two apps in one process (tests)
never count into each other; the models an app serves are labels.

| metric | type | labels |
|---|---|---|
| `s2s_keras_requests_total` | counter | model, version, signature, protocol (`rest`, `grpc`), status (HTTP's, also for gRPC) |
| `s2s_keras_request_seconds` | histogram | model, signature, protocol |
| `s2s_keras_batch_rows` | histogram | model, signature: the rows of each call of the model |
| `s2s_keras_call_seconds` | histogram | model, signature: each call's time |
| `s2s_keras_queued_requests` | gauge | model: requests waiting for the model |
| `s2s_keras_model_loads_total` | counter | model, version |
| `s2s_keras_model_load_failures_total` | counter | model, version |
"""

import asyncio
import contextlib
import dataclasses
import time

import prometheus_client

from s2s_keras.serve.batcher import Busy
from s2s_keras.serve.batcher import DeadlineExceeded
from s2s_keras.serve.batcher import Overloaded
from s2s_keras.serve.tensors import RequestError

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
# Seconds: a one-sentence answer takes tens of milliseconds to a second.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def status_of(error):
    """The HTTP status a request that raised `error` is answered with."""
    if error is None:
        return 200
    if isinstance(error, asyncio.CancelledError):
        return 499  # the client went away (nginx's number for it)
    if isinstance(error, RequestError):
        return error.status
    for kind, status in ((Busy, 503), (Overloaded, 429), (DeadlineExceeded, 504)):
        if isinstance(error, kind):
            return status
    return 500


@dataclasses.dataclass
class Observed:
    """What one request's metrics are labelled with; its handler fills in
    the signature once it knows it."""

    protocol: str
    model: str = ""
    version: str = ""
    signature: str = ""


class Metrics:
    """The counters, histograms and gauges of one server, every model's."""

    def __init__(self):
        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "s2s_keras_requests",
            "Predict requests answered, by status (HTTP's, for gRPC too).",
            ["model", "version", "signature", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = prometheus_client.Histogram(
            "s2s_keras_request_seconds",
            "Seconds from a predict request's arrival to its answer.",
            ["model", "signature", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = prometheus_client.Histogram(
            "s2s_keras_batch_rows",
            "Rows in each call of the model.",
            ["model", "signature"],
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.call_seconds = prometheus_client.Histogram(
            "s2s_keras_call_seconds",
            "Seconds of each call of the model.",
            ["model", "signature"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queued = prometheus_client.Gauge(
            "s2s_keras_queued_requests",
            "Requests waiting for the model.",
            ["model"],
            registry=self.registry,
        )
        self.loads = prometheus_client.Counter(
            "s2s_keras_model_loads",
            "Model versions loaded.",
            ["model", "version"],
            registry=self.registry,
        )
        self.load_failures = prometheus_client.Counter(
            "s2s_keras_model_load_failures",
            "Model versions that failed to load.",
            ["model", "version"],
            registry=self.registry,
        )

    def watch_queue(self, model, queued):
        """The queue gauge of `model` calls `queued()` when scraped."""
        self.queued.labels(model).set_function(queued)

    def loaded(self, model, version, failed):
        """Counts a load of `model`'s `version` (a `ModelVersions`' `on_load`)."""
        counter = self.load_failures if failed else self.loads
        counter.labels(model, str(version)).inc()

    def called(self, model, signature, rows, seconds):
        """Counts one call of the model (a `MicroBatcher`'s `on_call`)."""
        self.batch_rows.labels(model, signature).observe(rows)
        self.call_seconds.labels(model, signature).observe(seconds)

    @contextlib.asynccontextmanager
    async def observe(self, protocol):
        """Counts the request run inside, with the status its error maps to.

        Yields:
            An `Observed`, whose `model`, `version` and `signature` the
            handler sets as it learns them.
        """
        observed = Observed(protocol)
        began = time.perf_counter()
        error = None
        try:
            yield observed
        except BaseException as raised:
            error = raised
            raise
        finally:
            labels = (observed.model, observed.signature, observed.protocol)
            self.latency.labels(*labels).observe(time.perf_counter() - began)
            self.requests.labels(
                observed.model,
                observed.version,
                observed.signature,
                observed.protocol,
                str(status_of(error)),
            ).inc()

    def exposition(self):
        """The metrics in Prometheus's text format (bytes)."""
        return prometheus_client.generate_latest(self.registry)
