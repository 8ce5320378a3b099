"""A change of embedding model with no gap in search (DESIGN §11 "Vectors per model").

The serving model is the ``serving_model`` row, which every instance follows. When a
process starts configured with another model, ``ModelMigration.begin`` records it as the
row's *target* and queues every entry without current vectors of it, below interactive
writes (``PRIORITY_REEMBED``). Meanwhile search keeps serving the previous model, and the
workers embed every batch with both (``ActiveModels``): a back-filled entry costs one call
of the new model (the old one's vectors are current already, or cached), and a new write
becomes searchable on whichever model serves. ``step``, run by every search process's
index sync, tries the switch: one guarded statement that only matches once no entry
searchable on the old model lacks current vectors of the new one. Every process's index
then follows the row (``heurist.index.serving``). The old vectors stay until an operator
prunes them, so configuring the old model again switches back at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from heurist.db.engine import Database
from heurist.embedding.base import Embedder
from heurist.embedding.registry import EmbedderSet
from heurist.errors import Conflict
from heurist.index import embedding_cache
from heurist.index import vectors as vector_store
from heurist.limits import PRIORITY_REEMBED
from heurist.queue import sql
from heurist.signals import Signal

log = logging.getLogger(__name__)

# How often a search process tries the switch (a NOT EXISTS over the entries).
STEP_INTERVAL = 1.0


class ActiveModels:
    """The embedders a batch is embedded with now: the serving model and a migration's
    target, as the database says (read per batch: one row by primary key)."""

    def __init__(self, db: Database, embedders: EmbedderSet) -> None:
        self.db = db
        self.embedders = embedders

    def __call__(self) -> list[Embedder]:
        with self.db.read() as conn:
            row = sql.read_serving(conn)
        out: list[Embedder] = []
        for model, spec in ((row.model, row.spec), (row.target, row.target_spec)):
            if model is None or any(e.model_id == model for e in out):
                continue
            embedder = self.embedders.get(model, spec)
            if embedder is not None:
                out.append(embedder)
        return out or [self.embedders.primary]


class ModelMigration:
    def __init__(
        self,
        db: Database,
        *,
        model: str,
        spec: dict[str, Any],
        work: Signal,
        vectors: Signal,
        clock: Callable[[], float] = time.time,
        step_interval: float = STEP_INTERVAL,
    ) -> None:
        """``model``/``spec``: this process's configured model. ``work`` is announced when
        entries are queued, ``vectors`` when the serving model switched."""
        self.db = db
        self.model = model
        self.spec = spec
        self.work = work
        self.vectors = vectors
        self.clock = clock
        self.step_interval = step_interval
        self._last_step = float("-inf")
        self._first_seen: tuple[str, float, int] | None = None
        self._lock = threading.Lock()
        # Switches this process made (the guarded statement matched for it): for tests
        # and logs, the whole fleet's sum is 1 per migration.
        self.switched = 0

    def begin(self, *, decide: bool = True) -> sql.ServingRow:
        """At start-up: adopt, keep, start or cancel a migration to the configured model.

        Only a server decides (``decide``): a ``heurist worker`` process started with an
        older configuration must not cancel a migration; it follows the row."""
        now = self.clock()
        requeued = 0
        with self.db.write() as conn:
            sql.adopt_model(conn, model=self.model, spec=self.spec, now=now)
            row = sql.read_serving(conn)
            if decide and row.model == self.model:
                if sql.cancel_target(conn, serving=self.model, now=now):
                    log.warning(
                        "model change to %s cancelled: %s is configured again and still serves",
                        row.target,
                        self.model,
                    )
            elif decide:
                if sql.set_target(conn, target=self.model, spec=self.spec, now=now):
                    log.warning(
                        "model change: search keeps serving %s while every entry is embedded "
                        "with %s in the background; it switches when all are",
                        row.model,
                        self.model,
                    )
                requeued = sql.requeue_for_model(
                    conn, model=self.model, priority=PRIORITY_REEMBED, now=now
                )
            row = sql.read_serving(conn)
        if requeued:
            log.info("model change: queued %d entries for %s", requeued, self.model)
            self.work.announce()
        return row

    def step(self, *, force: bool = False) -> bool:
        """Try the switch (at most every ``step_interval`` s); True if this call switched.

        If it cannot switch yet and nothing is queued, re-queue what still lacks vectors of
        the target (an entry a worker held while the migration began was embedded with the
        old model only)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_step < self.step_interval:
                return False
            self._last_step = now
        with self.db.read() as conn:
            row = sql.read_serving(conn)
            if not row.migrating or row.model is None or row.target is None:
                return False
            ready = sql.switch_ready(conn, source=row.model, target=row.target)
            idle = not ready and sql.in_flight(conn) == 0
        if not (ready or idle):
            return False  # the back-fill is under way: nothing to write
        switched, requeued = False, 0
        with self.db.write() as conn:
            if ready:
                switched = sql.switch_serving(
                    conn, source=row.model, target=row.target, now=self.clock()
                )
            elif idle:
                requeued = sql.requeue_for_model(
                    conn, model=row.target, priority=PRIORITY_REEMBED, now=self.clock()
                )
        if switched:
            self.switched += 1
            log.warning(
                "model change complete: search now serves %s (was %s); prune %s with "
                "`heurist index prune-model` once you will not switch back",
                row.target,
                row.model,
                row.model,
            )
            self.vectors.announce()
        if requeued:
            self.work.announce()
        return switched

    def status(self) -> dict[str, Any]:
        """``{"serving_model", "previous_model", "migration": null | {from, to, done, total,
        started_at, eta_seconds}}``: for /admin/index/status, the CLI, /metrics, the dashboard."""
        with self.db.read() as conn:
            row = sql.read_serving(conn)
            progress = (
                sql.migration_progress(conn, source=row.model, target=row.target)
                if row.migrating and row.model is not None and row.target is not None
                else None
            )
        out: dict[str, Any] = {
            "serving_model": row.model,
            "configured_model": self.model,
            "previous_model": row.previous,
            "switched_at": row.switched_at,
            "migration": None,
        }
        if progress is not None:
            done, total = progress
            out["migration"] = {
                "from": row.model,
                "to": row.target,
                "done": done,
                "total": total,
                "started_at": row.migration_started_at,
                "eta_seconds": self._eta(str(row.target), done, total),
            }
        return out

    def _eta(self, target: str, done: int, total: int) -> float | None:
        """Seconds left at the rate this process has seen since it first looked."""
        now = self.clock()
        with self._lock:
            if self._first_seen is None or self._first_seen[0] != target:
                self._first_seen = (target, now, done)
                return None
            _, since, done_then = self._first_seen
        rate = (done - done_then) / (now - since) if now > since else 0.0
        return None if rate <= 0 else round((total - done) / rate, 1)

    def prune(self, model: str) -> dict[str, Any]:
        """Delete a model's vectors and cached vectors; refused (``Conflict``) for the
        serving model and a migration's target."""
        with self.db.write() as conn:
            row = sql.read_serving(conn)
            if model in (row.model, row.target):
                role = "serves" if model == row.model else "is migrating to"
                raise Conflict(
                    f"the store {role} {model}: it cannot be pruned; switch to another model "
                    "first (configure it and restart)",
                    details={"model": model, "serving_model": row.model},
                )
            vectors = vector_store.prune_model(conn, model)
            cached = embedding_cache.prune(conn, model)
        log.warning("pruned model %s: %d vectors, %d cached vectors", model, vectors, cached)
        return {"model": model, "vectors_deleted": vectors, "cache_deleted": cached}

    def inventory(self) -> dict[str, Any]:
        """Vectors and cached vectors per model."""
        with self.db.read() as conn:
            return {
                "vectors": vector_store.count_by_model(conn),
                "cache": embedding_cache.size(conn),
            }
