"""The worker pool: N supervised worker threads, start-up recovery, clean shutdown.

Each thread is a *slot* of the pool, ``<instance>/<boot>/w<n>``; the worker running in it
claims rows as the *holder* ``<slot>.<restart>`` (what ``claimed_by`` records). The
instance name is stable across restarts (so a new life recognises its previous life's
orphans), the boot token is fresh per process start, and a restarted thread gets a new
holder id, so nothing a crashed worker held is ever mistaken for the new one's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault
from heurist.embedding.base import Embedder
from heurist.queue import sql
from heurist.queue.registry import WorkerReporter
from heurist.queue.worker import PoolSignals, Worker, WorkerConfig, WorkerFactory, WorkerStats
from heurist.signals import Signal

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX = 30.0
SHUTDOWN_JOIN_SECONDS = 30.0


class WorkerPool:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        *,
        size: int,
        config: WorkerConfig,
        instance_id: str,
        work: Signal,
        vectors: Signal | None = None,
        clock: Callable[[], float] = time.time,
        make_worker: WorkerFactory = Worker,
    ) -> None:
        """``work`` wakes the workers; they announce on ``vectors`` what they embedded.
        ``clock`` and ``make_worker`` are for tests (a clock they move, a worker that fails
        on purpose)."""
        self.db = db
        self.embedder = embedder
        self.size = size
        self.config = config
        self.instance_id = instance_id
        self.boot = os.urandom(4).hex()
        self.prefix = f"{instance_id}/{self.boot}/"
        self.signals = PoolSignals(work=work, vectors=vectors, clock=clock)
        self.make_worker = make_worker
        self.stats: list[WorkerStats] = []
        self._threads: list[threading.Thread] = []
        self.reporter: WorkerReporter | None = None

    def recover(self, *, retry_failed: bool) -> dict[str, int]:
        """Start-up recovery: release this instance's orphans (a model change is
        ``heurist.queue.migration``'s)."""
        with self.db.write() as conn:
            counts = sql.status_counts(conn)
            released = sql.release_instance(
                conn, instance_prefix=f"{self.instance_id}/", keep_prefix=self.prefix
            )
            retried = sql.retry_failed(conn) if retry_failed else 0
        summary = {status: sum(by_kind.values()) for status, by_kind in counts.items()}
        log.info(
            "queue at start-up: %s; released %d orphaned rows of instance %s; retried %d failed",
            ", ".join(f"{k}={v}" for k, v in summary.items()),
            released,
            self.instance_id,
            retried,
        )
        return {"released": released, "retried": retried}

    def start(self) -> None:
        for n in range(self.size):
            stats = WorkerStats(slot=f"{self.prefix}w{n}")
            self.stats.append(stats)
            thread = threading.Thread(
                target=self._supervise, args=(stats,), name=f"embed-worker-{n}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self.reporter = WorkerReporter(self.db, self.stats, clock=self.signals.clock)
        self.reporter.start()

    def _supervise(self, stats: WorkerStats) -> None:
        restarts = 0
        while not self.signals.stop.is_set():
            holder = f"{stats.slot}.{restarts}"
            stats.holder = holder
            worker = self.make_worker(
                self.db,
                self.embedder,
                holder=holder,
                config=self.config,
                signals=self.signals,
                stats=stats,
            )
            try:
                worker.run()
                return
            except Exception:  # a crashed worker is restarted, never silently lost
                restarts += 1
                stats.restarts = restarts
                log.exception("worker %s crashed; restart %d", holder, restarts)
                self._release_crashed(worker, stats)
                self.signals.stop.wait(min(RESTART_BACKOFF_MAX, 0.5 * 2 ** min(restarts, 6)))

    def _release_crashed(self, worker: Worker, stats: WorkerStats) -> None:
        """Whatever the crashed worker held goes back now; its id is never used again."""
        try:
            with self.db.write() as conn:
                released = sql.release_instance(conn, instance_prefix=worker.holder)
            log.info("released %d rows held by crashed worker %s", released, worker.holder)
        except Exception:  # the lease will expire and the claim will rescue them
            log.exception("could not release rows of crashed worker %s", worker.holder)
        stats.current_batch = []

    def stop(self, timeout: float = SHUTDOWN_JOIN_SECONDS) -> int:
        """Stop claiming, let batches in hand finish, join, release whatever is still held."""
        self.signals.stop.set()
        self.signals.work.wake()  # our threads only: not news for other processes
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        try:
            with self.db.write() as conn:
                released = sql.release_instance(conn, instance_prefix=self.prefix)
        except DatabaseFault as fault:
            # The shutdown goes on: the next start of this instance releases them at
            # once, and any other worker takes them when their lease expires.
            log.warning("could not release the rows still held at shutdown: %s", fault.reason)
            released = 0
        if released:
            log.info("released %d rows still held at shutdown", released)
        if self.reporter is not None:
            self.reporter.stop()
        return released

    @property
    def alive(self) -> int:
        return sum(1 for t in self._threads if t.is_alive())
