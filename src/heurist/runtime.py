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
from collections.abc import Sequence
from dataclasses import dataclass, field

from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.embedding.base import Embedder
from heurist.embedding.factory import build_embedder
from heurist.embedding.registry import EmbedderSet, model_spec
from heurist.index.faiss_index import VectorIndex
from heurist.index.serving import ServingIndex
from heurist.index.sync import IndexSync, IndexSyncLoop
from heurist.private_files import private_dir
from heurist.queue.control import QueueControl
from heurist.queue.migration import ActiveModels, ModelMigration
from heurist.queue.pg_notify import PgNotify
from heurist.queue.pool import WorkerPool
from heurist.queue.worker import WorkerConfig
from heurist.search.service import SearchService
from heurist.settings import Settings
from heurist.signals import Signal
from heurist.store.categories import CategoryStore
from heurist.store.curation import CurationStore
from heurist.store.entries import EntryStore
from heurist.transfer.staging import remove_dead_imports

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
    # The serving model's index and query embedder (it follows the database's
    # serving_model row), and the model change that may be under way.
    serving: ServingIndex
    migration: ModelMigration
    embedders: EmbedderSet
    sync_loop: IndexSyncLoop
    pool: WorkerPool | None
    search: SearchService
    curation: CurationStore
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
        extra_embedders: Sequence[Embedder] = (),
    ) -> Runtime:
        """``embedder``/``query_embedder`` replace the configured model's (tests);
        ``extra_embedders`` are used for the models the database names (the serving model
        during a model change) instead of building them from their recorded settings."""
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
        embedders = EmbedderSet(
            settings,
            embedder,
            extra=extra_embedders,
            build=lambda s: build_embedder(worker_embedding_settings(s, size)),
        )
        query_embedders = EmbedderSet(
            settings,
            query_embedder,
            extra=extra_embedders,
            build=lambda s: build_embedder(query_embedding_settings(s)),
        )
        migration = ModelMigration(
            db,
            model=embedder.model_id,
            spec=model_spec(settings, embedder),
            work=work,
            vectors=vectors,
        )
        serving = ServingIndex(db, query_embedders, before_sync=migration.step)
        pool = (
            WorkerPool(
                db,
                embedder,
                size=size,
                config=worker_config(settings, size),
                instance_id=settings.instance_id or default_instance(role, settings),
                work=work,
                vectors=vectors,
            )
            if size > 0
            else None
        )
        if pool is not None:
            pool.signals.models = ActiveModels(db, embedders)
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
            serving=serving,
            migration=migration,
            embedders=embedders,
            sync_loop=IndexSyncLoop(
                serving, interval=settings.index_sync_interval, vectors=vectors
            ),
            pool=pool,
            search=SearchService(db, serving, cache_size=settings.query_cache_size),
            curation=CurationStore(db, work=work),
            notify=notify,
        )

    def start(self, *, serve_search: bool = True) -> None:
        private_dir(self.settings.data_dir)
        upgrade(self.db)
        # A killed import's staged rows: invisible, but they take room and keep their ids.
        remove_dead_imports(self.db)
        self.migration.begin(decide=serve_search)
        if self.pool is not None:
            self.pool.recover(retry_failed=self.settings.queue_retry_failed_on_startup)
            self.pool.start()
        if serve_search:
            self.serving.rebuild(load=False)
            self.sync_loop.start()
            threading.Thread(target=self._warm_model, name="model-warmup", daemon=True).start()
        if self.notify is not None:
            self.notify.start()
        # Only a process that serves search runs the sync loop (`heurist worker` does not).
        self._started = serve_search

    @property
    def index(self) -> VectorIndex:
        """The serving model's index in this process."""
        return self.serving.current.index

    @property
    def index_sync(self) -> IndexSync:
        return self.serving.current.sync

    def _warm_model(self) -> None:
        """Load the query model off the request path; searches use keyword until it is in."""
        started = time.perf_counter()
        embedder = self.serving.current.embedder
        try:
            embedder.load()
            embedder.embed(["warm up"])
        except Exception:
            log.exception("could not load the embedding model for queries")
            return
        log.info("query model %s ready in %.1fs", embedder.model_id, time.perf_counter() - started)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.stop()
        if self.notify is not None:
            self.notify.stop()
        if self._started:
            self.sync_loop.stop()
        self.search.close()
        self.embedders.close()
        self.serving.embedders.close()
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


def worker_config(settings: Settings, workers: int | None = None) -> WorkerConfig:
    size = settings.num_embedding_workers if workers is None else workers
    backfill = settings.backfill_workers
    return WorkerConfig(
        backfill_workers=max(1, size // 2) if backfill is None else backfill,
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
