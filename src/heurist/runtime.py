"""Everything a heurist process runs, built from one Settings object and passed down.

``Runtime.build`` constructs; ``start`` migrates, recovers the queue, rebuilds the
index and starts the threads; ``stop`` shuts them down cleanly. The API app, the
``heurist worker`` process and the tests all go through here.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.embedding.base import Embedder
from heurist.embedding.factory import build_embedder
from heurist.index.faiss_index import VectorIndex
from heurist.index.sync import IndexSync, IndexSyncLoop
from heurist.queue.control import QueueControl
from heurist.queue.pg_notify import PgNotify
from heurist.queue.pool import WorkerPool
from heurist.queue.worker import WorkerConfig
from heurist.search.service import SearchService
from heurist.settings import Settings
from heurist.signals import Signal
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    # News inside this process: new work for the workers, new vectors for the index sync.
    work: Signal
    vectors: Signal
    embedder: Embedder
    query_embedder: Embedder
    categories: CategoryStore
    entries: EntryStore
    queue: QueueControl
    index: VectorIndex
    index_sync: IndexSync
    sync_loop: IndexSyncLoop
    pool: WorkerPool | None
    search: SearchService
    # LISTEN/NOTIFY wake-ups across processes, on PostgreSQL only.
    notify: PgNotify | None = None
    started_at: float = field(default_factory=time.time)
    _started: bool = False

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        query_embedder: Embedder | None = None,
        role: str = "serve",
        workers: int | None = None,
    ) -> Runtime:
        db = Database(settings.resolved_database_url)
        work, vectors = Signal(), Signal()
        notify = None if db.is_sqlite else PgNotify(db, work=work, vectors=vectors)
        size = settings.num_embedding_workers if workers is None else workers
        embedder = embedder or build_embedder(worker_embedding_settings(settings, size))
        # A local model gets a second instance for queries, so a search never waits behind a
        # batch; other providers (HTTP, hash) are safe to share.
        query_embedder = query_embedder or (
            build_embedder(query_embedding_settings(settings))
            if settings.embedding_provider == "local"
            else embedder
        )
        index = VectorIndex(embedder.dim)
        index_sync = IndexSync(db, index, model=embedder.model_id)
        pool = (
            WorkerPool(
                db,
                embedder,
                size=size,
                config=worker_config(settings),
                instance_id=settings.instance_id or default_instance(role, settings),
                work=work,
                vectors=vectors,
            )
            if size > 0
            else None
        )
        return cls(
            settings=settings,
            db=db,
            work=work,
            vectors=vectors,
            embedder=embedder,
            query_embedder=query_embedder,
            categories=CategoryStore(db),
            entries=EntryStore(db, work=work),
            queue=QueueControl(db, work),
            index=index,
            index_sync=index_sync,
            sync_loop=IndexSyncLoop(
                index_sync, interval=settings.index_sync_interval, vectors=vectors
            ),
            pool=pool,
            search=SearchService(db, query_embedder, index, cache_size=settings.query_cache_size),
            notify=notify,
        )

    def start(self, *, serve_search: bool = True) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.db)
        if self.pool is not None:
            self.pool.recover(retry_failed=self.settings.queue_retry_failed_on_startup)
            self.pool.start()
        if serve_search:
            self.index_sync.rebuild()
            self.sync_loop.start()
            threading.Thread(target=self._warm_model, name="model-warmup", daemon=True).start()
        if self.notify is not None:
            self.notify.start()
        # Only a process that serves search runs the sync loop (`heurist worker` does not).
        self._started = serve_search

    def _warm_model(self) -> None:
        """Load the query model off the request path; searches use keyword until it is in."""
        started = time.perf_counter()
        try:
            self.query_embedder.load()
            self.query_embedder.embed(["warm up"])
        except Exception:
            log.exception("could not load the embedding model for queries")
            return
        log.info(
            "query model %s ready in %.1fs",
            self.query_embedder.model_id,
            time.perf_counter() - started,
        )

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.stop()
        if self.notify is not None:
            self.notify.stop()
        if self._started:
            self.sync_loop.stop()
        self.search.close()
        self.embedder.close()
        if self.query_embedder is not self.embedder:
            self.query_embedder.close()
        self.db.dispose()


def worker_embedding_settings(settings: Settings, workers: int) -> Settings:
    """The workers' model gets the cores shared out: one intra-op thread per worker and core.

    On ONNX the workers' calls run concurrently, and N calls of one thread beat one call
    of N threads (measured in bench/embedders.py). An explicit EMBEDDING_THREADS wins.
    """
    if not _local_onnx_unpinned(settings) or workers < 1:
        return settings
    threads = max(1, (os.cpu_count() or 1) // workers)
    return settings.model_copy(update={"embedding_threads": threads})


def query_embedding_settings(settings: Settings) -> Settings:
    """The query model runs on one intra-op thread: a query is a few tokens, and in hybrid
    mode it runs beside the keyword SQL, which then keeps the other core (hybrid cold p95
    at 10k entries: ~19 ms on one thread against ~24 ms on two, bench/search_latency.py)."""
    if _local_onnx_unpinned(settings):
        return settings.model_copy(update={"embedding_threads": 1})
    return settings


def _local_onnx_unpinned(settings: Settings) -> bool:
    return (
        settings.embedding_provider == "local"
        and settings.embedding_runtime == "onnx"
        and settings.embedding_threads is None
    )


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        batch_size=settings.worker_batch_size,
        batch_tokens=settings.worker_batch_tokens,
        lease_seconds=settings.lease_seconds,
        heartbeat_interval=settings.resolved_heartbeat_interval,
        poll_interval=settings.worker_poll_interval,
        max_attempts=settings.max_attempts,
        retry_base=settings.retry_base_seconds,
        retry_max=settings.retry_max_seconds,
        outage_base=settings.outage_backoff_seconds,
        nice=settings.worker_nice,
    )


def default_instance(role: str, settings: Settings) -> str:
    """The server's name is stable across restarts (host and port), so a new life releases
    its previous life's rows at once. Worker processes default to their pid (several may
    run on one host); give them HEURIST_INSTANCE_ID to get the same at-once release."""
    suffix = f":{settings.port}" if role == "serve" else f":{os.getpid()}"
    return f"{socket.gethostname()}:{role}{suffix}"
