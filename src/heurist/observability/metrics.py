"""Prometheus metrics for one app: a registry of its own, so two apps never collide.

Counters and histograms are fed by events (a worker's batch report, an HTTP
request); gauges that describe the database (queue depth by status and kind, the
pause flag, the oldest pending age) are read from it at scrape time by a custom
collector, so they agree with ``/admin/queue/status`` and with every other process
on the same database. A scrape while the database is down still answers, with
``heurist_database_up 0``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from heurist.db.faults import DatabaseFault
from heurist.queue.worker import BatchReport

if TYPE_CHECKING:
    from heurist.runtime import Runtime

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The app's registry and the instruments fed by events."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.succeeded = Counter(
            "heurist_jobs_succeeded", "Entries embedded by this process's workers.", registry=r
        )
        self.failed = Counter(
            "heurist_jobs_failed",
            "Entries that became 'failed' (attempts exhausted or a permanent error).",
            registry=r,
        )
        self.retried = Counter(
            "heurist_jobs_retried", "Failed attempts sent back to 'pending' to retry.", registry=r
        )
        self.embed_latency = Histogram(
            "heurist_embed_batch_seconds",
            "Time to process one claimed batch (embed and write back).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "heurist_embed_batch_size",
            "Entries per claimed batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.lag = Histogram(
            "heurist_write_to_embedded_seconds",
            "From the write that queued an entry to its vectors being stored.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.http = Histogram(
            "heurist_http_request_duration_seconds",
            "HTTP request latency by method, route template and status code.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )

    def observe_batch(self, report: BatchReport) -> None:
        """A worker's batch observer (``pool.signals.on_batch``); never raises into it."""
        self.batch_size.observe(report.size)
        self.embed_latency.observe(report.latency)
        self.succeeded.inc(report.succeeded)
        self.failed.inc(report.failed)
        self.retried.inc(report.retried)
        for lag in report.lags:
            self.lag.observe(lag)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http.labels(method, route, str(status)).observe(seconds)

    def watch(self, runtime: Runtime) -> None:
        """Read the runtime's state (queue, workers, index) at every scrape."""
        self.registry.register(RuntimeCollector(runtime))
        if runtime.pool is not None:
            runtime.pool.signals.on_batch.append(self.observe_batch)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RuntimeCollector(Collector):
    """Gauges read at scrape time: from the database, the worker pool and the index."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def collect(self) -> Iterator[Metric]:
        yield from self._workers()
        yield GaugeMetricFamily(
            "heurist_index_vectors", "Vectors in this process's search index.", len(self.rt.index)
        )
        up = GaugeMetricFamily("heurist_database_up", "1 if the last scrape reached the database.")
        try:
            families = list(self._database())
        except DatabaseFault as fault:
            log.warning("metrics scrape could not read the database: %s", fault.reason)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _database(self) -> Iterator[Metric]:
        rt = self.rt
        depth = GaugeMetricFamily(
            "heurist_queue_depth",
            "Entries by embedding status and kind.",
            labels=["status", "kind"],
        )
        for status, by_kind in rt.queue.counts().items():
            for kind, n in by_kind.items():
                if kind != "total":
                    depth.add_metric([status, kind], n)
        yield depth
        paused = rt.queue.pause_state()
        yield GaugeMetricFamily(
            "heurist_queue_paused",
            "1 while the queue is paused (operator or import).",
            int(paused["paused"]),
        )
        age = rt.queue.oldest_pending_age()
        yield GaugeMetricFamily(
            "heurist_queue_oldest_pending_age_seconds",
            "Age of the oldest pending entry (0 when none).",
            age or 0.0,
        )
        lag = rt.index_sync.lag()
        yield GaugeMetricFamily(
            "heurist_index_changes_behind",
            "Vector changes in the database not yet applied to this process's index.",
            lag["changes_behind"],
        )
        yield from self._migration()

    def _migration(self) -> Iterator[Metric]:
        """The serving model and a model change's progress (entries with current vectors
        of the new model, of those with vectors of either)."""
        status = self.rt.migration.status()
        serving = GaugeMetricFamily(
            "heurist_serving_model_info", "The model search serves (1).", labels=["model"]
        )
        serving.add_metric([status["serving_model"] or ""], 1)
        yield serving
        migration = status["migration"] or {"done": 0, "total": 0}
        yield GaugeMetricFamily(
            "heurist_model_migration_active",
            "1 while a model change back-fills a new model.",
            int(status["migration"] is not None),
        )
        yield GaugeMetricFamily(
            "heurist_model_migration_done",
            "Entries with vectors of the new model.",
            migration["done"],
        )
        yield GaugeMetricFamily(
            "heurist_model_migration_total",
            "Entries the model change must cover.",
            migration["total"],
        )

    def _workers(self) -> Iterator[Metric]:
        pool = self.rt.pool
        stats = pool.stats if pool is not None else []
        cache = pool.signals.cache.snapshot() if pool is not None else {"hits": 0, "misses": 0}
        yield CounterMetricFamily(
            "heurist_embedding_cache_hits",
            "Chunks whose vector came from the embedding cache (no model call).",
            cache["hits"],
        )
        yield CounterMetricFamily(
            "heurist_embedding_cache_misses",
            "Distinct chunk texts sent to a model (not in the cache).",
            cache["misses"],
        )
        yield GaugeMetricFamily(
            "heurist_workers_configured",
            "Embedding worker threads configured in this process.",
            pool.size if pool is not None else 0,
        )
        alive = GaugeMetricFamily(
            "heurist_worker_alive", "1 while the worker thread runs.", labels=["worker"]
        )
        restarts = CounterMetricFamily(
            "heurist_worker_restarts",
            "Times the worker thread crashed and was restarted.",
            labels=["worker"],
        )
        for n, s in enumerate(stats):
            # The slot, not the worker id: ids change with every boot and restart.
            alive.add_metric([f"w{n}"], int(s.alive))
            restarts.add_metric([f"w{n}"], s.restarts)
        yield alive
        yield restarts
