"""`/metrics` for a `heurist worker` process (no HTTP API), for Prometheus to scrape.

A worker process's counters (jobs embedded, failed, retried, batch latency and size,
write-to-embedded lag) and its threads' liveness exist only in that process, so each
worker serves them on a port of its own (`heurist worker --metrics-port`). The
database gauges (queue depth, pause, oldest pending) are the same from every process:
scrape them from the API instances, not here, so they are not counted once per worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from prometheus_client.core import Metric

from heurist.observability.metrics import Metrics, RuntimeCollector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from heurist.runtime import Runtime


class WorkerCollector(RuntimeCollector):
    """Only what belongs to this process's worker threads."""

    def collect(self) -> Iterator[Metric]:
        yield from self._workers()


class WorkerMetricsServer:
    def __init__(self, runtime: Runtime, *, host: str, port: int) -> None:
        self.metrics = Metrics()
        self.metrics.registry.register(WorkerCollector(runtime))
        if runtime.pool is not None:
            runtime.pool.signals.on_batch.append(self.metrics.observe_batch)
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None

    def start(self) -> None:
        self._server, _thread = start_http_server(
            self.port, addr=self.host, registry=self.metrics.registry
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
