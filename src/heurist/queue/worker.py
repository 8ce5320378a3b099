"""One embedding worker: claim a batch, embed it outside any transaction, write back.

    claim (one statement, committed) -> read the texts -> model calls sorted by length
    (``batching``) -> guarded write-back (vectors + status in one short transaction)

A failing batch is split in halves until the poison entry stands alone, so it fails
by itself and its neighbours are embedded. A provider outage releases the batch
without burning attempts and backs the whole pool off (DESIGN §3.6).

A database fault (the server down, its disk full) is the same kind of event: the
pool backs off (``DATABASE_BACKOFF_BASE`` doubling to ``DATABASE_BACKOFF_MAX``), the
worker is not restarted, and before it claims again it gives back whatever it held
with the attempt refunded (``sql.release_held``). Nothing is marked failed because
the database could not be written.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault
from heurist.domain.vocabulary import EmbeddingStatus
from heurist.embedding.base import Embedder
from heurist.embedding.embedded_text import chunks_for
from heurist.embedding.errors import PermanentEmbeddingError, ProviderUnavailable
from heurist.limits import PRIORITY_REEMBED
from heurist.queue import sql
from heurist.queue.backoff import retry_delay
from heurist.queue.heartbeat import Heartbeat
from heurist.queue.vectorize import CacheCounts, Item, Planned, Vectorizer
from heurist.signals import Signal

log = logging.getLogger(__name__)

# Short, so the workers resume within seconds of the database coming back.
DATABASE_BACKOFF_BASE = 0.5
DATABASE_BACKOFF_MAX = 5.0


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch_size: int
    lease_seconds: float
    heartbeat_interval: float
    poll_interval: float
    max_attempts: int
    retry_base: float
    retry_max: float
    outage_base: float = 5.0
    nice: int = 0
    # At most this many workers of a pool take a model change's back-fill at a time, so
    # the others (and the cores they would use) stay free for writes and searches. 0: all.
    backfill_workers: int = 0
    # Padded tokens per model call (queue/batching.py); rows per claim is batch_size.
    batch_tokens: int = 4096


@dataclass
class WorkerStats:
    """One place of the pool, as operators see it. ``slot`` (``<instance>/<boot>/w<n>``) is
    the place, kept across restarts; ``holder`` is the id its current worker claims rows
    under (``claimed_by``), new for every restart."""

    slot: str
    holder: str = ""
    alive: bool = False
    paused: bool = False
    state: str = "starting"
    current_batch: list[str] = field(default_factory=list)
    last_run: float | None = None
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one processed batch tells its observers (metrics): sizes, time, outcome."""

    holder: str
    size: int
    latency: float
    succeeded: int
    failed: int
    retried: int = 0
    # Seconds from queued (the write) to embedded, one per entry completed in this batch.
    lags: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    claim: sql.Claimed
    chunks: list[str]


def lower_priority(nice: int) -> None:
    """Run this thread (and the model threads it starts) at a lower CPU priority.

    Embedding is batch work sharing the cores with request threads; on Linux niceness
    is per thread and inherited by threads created from it, so requests keep their
    latency while the workers use whatever CPU is left.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as exc:
        log.warning("could not lower the worker thread's priority: %s", exc)


class PoolSignals:
    """What a worker shares with its pool: the clock, stop, the signals it waits on (new
    work) and announces (new vectors), the outage backoffs (provider and database), and the
    batch observers."""

    def __init__(
        self,
        *,
        work: Signal | None = None,
        vectors: Signal | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.work = work if work is not None else Signal()
        self.vectors = vectors if vectors is not None else Signal()
        self.clock = clock
        self.stop = threading.Event()
        self.outage_until = 0.0
        self.outage_delay = 0.0
        self.database_down_since: float | None = None
        self.database_until = 0.0
        self.database_delay = 0.0
        self._lock = threading.Lock()
        self.on_batch: list[Callable[[BatchReport], None]] = []
        # The embedders a batch is embedded with now (the database's serving model and a
        # migration's target, heurist.queue.migration.ActiveModels); None: the worker's own.
        self.models: Callable[[], list[Embedder]] | None = None
        self.cache = CacheCounts()
        # Permits to take back-fill rows (WorkerConfig.backfill_workers); None: no limit.
        self.backfill: threading.Semaphore | None = None

    def outage(self, base: float, cap: float, reason: str) -> float:
        with self._lock:
            self.outage_delay = min(cap, self.outage_delay * 2 if self.outage_delay else base)
            self.outage_until = self.clock() + self.outage_delay
            delay = self.outage_delay
        log.warning("embedding provider unavailable (%s); pool backs off %.1fs", reason, delay)
        return delay

    def provider_ok(self) -> None:
        with self._lock:
            self.outage_delay = 0.0

    def database_down(self, fault: DatabaseFault) -> float:
        """A worker met a database fault: the whole pool waits, then tries again."""
        with self._lock:
            first = self.database_down_since is None
            if first:
                self.database_down_since = self.clock()
            self.database_delay = min(
                DATABASE_BACKOFF_MAX,
                self.database_delay * 2 if self.database_delay else DATABASE_BACKOFF_BASE,
            )
            self.database_until = self.clock() + self.database_delay
            delay = self.database_delay
        if first:
            log.warning(
                "database fault (%s); workers back off %.1fs, doubling up to %.0fs, "
                "count no attempt and mark nothing failed",
                fault.reason,
                delay,
                DATABASE_BACKOFF_MAX,
            )
        return delay

    def database_seen(self) -> None:
        """Something committed (a wake-up): end the database backoff, try at once."""
        with self._lock:
            self.database_until = 0.0

    def database_ok(self) -> None:
        with self._lock:
            since, self.database_down_since = self.database_down_since, None
            self.database_delay = self.database_until = 0.0
        if since is not None:
            log.info("database back after %.1fs: workers resume", self.clock() - since)

    def outage_remaining(self) -> float:
        now = self.clock()
        return max(0.0, self.outage_until - now, self.database_until - now)


class Worker:
    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        *,
        holder: str,
        config: WorkerConfig,
        signals: PoolSignals,
        stats: WorkerStats | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.holder = holder
        self.config = config
        self.signals = signals
        self.clock = signals.clock
        self.stats = stats or WorkerStats(slot=holder, holder=holder)
        self.rng = random.Random()
        self.vectorizer = Vectorizer(
            db,
            signals.models or (lambda: [embedder]),
            signals.cache,
            batch_tokens=config.batch_tokens,
        )
        # After a database fault, what this worker holds is unknown until given back.
        self._unsettled = False
        # Per batch, for the report: write-to-embedded lags and attempts sent back to retry.
        self._lags: list[float] = []
        self._retried = 0
        self.heartbeat = Heartbeat(
            db,
            holder=holder,
            lease_seconds=config.lease_seconds,
            interval=config.heartbeat_interval,
            clock=self.clock,
        )

    def run(self) -> None:
        """The loop: until stopped, claim and process; sleep when idle, paused or backing off."""
        lower_priority(self.config.nice)
        self.heartbeat.start()
        self.stats.alive = True
        try:
            while not self.signals.stop.is_set():
                generation = self.signals.work.generation
                backoff = self.signals.outage_remaining()
                if backoff <= 0:
                    if self._run_surviving_faults():
                        continue
                    backoff = self.signals.outage_remaining()
                if self.signals.work.wait(generation, backoff or self.config.poll_interval):
                    # A wake-up follows a write that committed: the database is back.
                    self.signals.database_seen()
        finally:
            self.heartbeat.stop()
            self.stats.alive = False
            self.stats.state = "stopped"

    def _run_surviving_faults(self) -> bool:
        try:
            return self.run_once()
        except DatabaseFault as fault:
            self._unsettled = True
            self.stats.state = "waiting for db"  # fits workers.state (16)
            self.signals.database_down(fault)
            return False

    def run_once(self) -> bool:
        """Claim and process one batch; False when there was nothing to do."""
        if self.signals.outage_remaining() > 0:
            return False
        if self._unsettled:
            self._settle()
        permits = self.signals.backfill
        backfill = permits is None or permits.acquire(blocking=False)
        try:
            batch = self.claim(backfill=backfill)
            if self.signals.database_down_since is not None:
                self.signals.database_ok()
            if not batch:
                self.stats.paused = self._paused()
                self.stats.state = "paused" if self.stats.paused else "idle"
                return False
            self.stats.paused = False
            self.process(batch)
            return True
        finally:
            if permits is not None and backfill:
                permits.release()

    def claim(self, *, backfill: bool = True) -> list[sql.Claimed]:
        """Claim a batch; without ``backfill``, no row of a model change's back-fill."""
        with self.db.write() as conn:
            return sql.claim(
                conn,
                holder=self.holder,
                limit=self.config.batch_size,
                now=self.clock(),
                lease_seconds=self.config.lease_seconds,
                max_priority=sql.ANY_PRIORITY if backfill else PRIORITY_REEMBED - 1,
            )

    def process(self, batch: list[sql.Claimed]) -> None:
        ids = [c.id for c in batch]
        self.heartbeat.hold(ids)
        self.stats.state, self.stats.current_batch = "embedding", ids
        started = time.perf_counter()
        before = (self.stats.succeeded, self.stats.failed)
        self._lags, self._retried = [], 0
        try:
            jobs, broken = self._prepare(batch)
            for job, error in broken:
                self._fail(job, error, permanent=True)
            if jobs:
                self._embed(jobs)
        finally:
            self.heartbeat.drop(ids)
            self.stats.current_batch = []
            self.stats.last_run = self.clock()
            self.stats.processed += len(batch)
        self._report(batch, time.perf_counter() - started, before)

    def _report(self, batch: list[sql.Claimed], latency: float, before: tuple[int, int]) -> None:
        """One log line per batch, and the same facts to the observers (metrics)."""
        report = BatchReport(
            holder=self.holder,
            size=len(batch),
            latency=latency,
            succeeded=self.stats.succeeded - before[0],
            failed=self.stats.failed - before[1],
            retried=self._retried,
            lags=tuple(self._lags),
        )
        for observer in self.signals.on_batch:
            observer(report)
        log.info(
            "worker %s: batch of %d in %.0f ms: %d embedded, %d failed, %d to retry "
            "(ids %s; attempts %s)",
            self.holder,
            report.size,
            latency * 1000,
            report.succeeded,
            report.failed,
            report.retried,
            ",".join(c.id for c in batch),
            ",".join(str(c.attempts) for c in batch),
        )

    def _prepare(self, batch: list[sql.Claimed]) -> tuple[list[Job], list[tuple[Job, str]]]:
        jobs: list[Job] = []
        broken: list[tuple[Job, str]] = []
        for claim in batch:
            chunks = chunks_for(claim.kind, claim.fields, self.embedder.window())
            job = Job(claim, chunks)
            if not chunks or not all(c.strip() for c in chunks):
                broken.append((job, "nothing to embed: the entry's text is empty"))
            else:
                jobs.append(job)
        return jobs, broken

    def _embed(self, jobs: list[Job]) -> None:
        try:
            planned = self.vectorizer.compute(
                [Item(j.claim.id, j.claim.revision, j.chunks) for j in jobs]
            )
        except ProviderUnavailable as exc:
            self._release_for_outage(jobs, str(exc))
            return
        except PermanentEmbeddingError as exc:
            self._split_or_fail(jobs, exc, permanent=True)
            return
        except Exception as exc:  # any runtime error of a model is recorded, never lost
            self._split_or_fail(jobs, exc, permanent=False)
            return
        self.signals.provider_ok()
        self._complete(jobs, planned)

    def _split_or_fail(self, jobs: list[Job], exc: BaseException, *, permanent: bool) -> None:
        if len(jobs) > 1:
            half = len(jobs) // 2
            self._embed(jobs[:half])
            self._embed(jobs[half:])
            return
        self._fail(jobs[0], f"{type(exc).__name__}: {exc}", permanent=permanent)

    def _complete(self, jobs: list[Job], planned: Planned) -> None:
        done: list[str] = []
        now = self.clock()
        with self.db.write() as conn:
            for index, job in enumerate(jobs):
                if sql.mark_embedded(
                    conn,
                    entry_id=job.claim.id,
                    revision=job.claim.revision,
                    holder=self.holder,
                    model=self.embedder.model_id,
                    now=now,
                ):
                    planned.write(conn, index, Item(job.claim.id, job.claim.revision, job.chunks))
                    done.append(job.claim.id)
                    self._lags.append(max(0.0, now - job.claim.queued_at))
            planned.remember(conn)
        self.stats.succeeded += len(done)
        if done:
            self.signals.vectors.announce()

    def _fail(self, job: Job, error: str, *, permanent: bool) -> None:
        delay = retry_delay(
            job.claim.attempts, base=self.config.retry_base, cap=self.config.retry_max, rng=self.rng
        )
        with self.db.write() as conn:
            status = sql.mark_failed_attempt(
                conn,
                entry_id=job.claim.id,
                revision=job.claim.revision,
                holder=self.holder,
                error=error,
                next_attempt_at=self.clock() + delay,
                max_attempts=self.config.max_attempts,
                permanent=permanent,
            )
        if status == EmbeddingStatus.FAILED:
            self.stats.failed += 1
        elif status == EmbeddingStatus.PENDING:
            self._retried += 1
        log.warning(
            "worker %s: entry %s attempt %d failed (%s): %s",
            self.holder,
            job.claim.id,
            job.claim.attempts,
            status or "no longer ours",
            error,
        )

    def _release_for_outage(self, jobs: list[Job], reason: str) -> None:
        delay = self.signals.outage(self.config.outage_base, self.config.retry_max, reason)
        with self.db.write() as conn:
            sql.release(
                conn,
                holder=self.holder,
                ids=[j.claim.id for j in jobs],
                not_before=self.clock() + delay,
                refund=True,
            )

    def _settle(self) -> None:
        """Give back whatever this worker held when the database failed, attempts refunded."""
        with self.db.write() as conn:
            released = sql.release_held(conn, holder=self.holder, not_before=self.clock())
        self._unsettled = False
        if released:
            log.info(
                "worker %s: gave back %d entries held when the database failed (attempts refunded)",
                self.holder,
                released,
            )

    def _paused(self) -> bool:
        with self.db.read() as conn:
            return sql.read_pause(conn).paused(self.clock())


class WorkerFactory(Protocol):
    """How a pool makes its workers: ``Worker`` itself, or a test's subclass."""

    def __call__(
        self,
        db: Database,
        embedder: Embedder,
        *,
        holder: str,
        config: WorkerConfig,
        signals: PoolSignals,
        stats: WorkerStats | None = None,
    ) -> Worker: ...
