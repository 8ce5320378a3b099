"""The index this process searches: the serving model's vectors and its query embedder.

The serving model is the database's word (``serving_model``), not this process's
configuration: during a model change search keeps serving the previous model. When the
row names another model (a migration completed, here or in any other process), the
process builds the new model's index from the vector rows and loads its query embedder
*beside* the one it serves, then swaps both in one assignment: a search reads ``current``
once and uses one consistent (model, embedder, index) throughout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from heurist.db.engine import Database
from heurist.embedding.base import Embedder
from heurist.embedding.registry import EmbedderSet
from heurist.index.faiss_index import VectorIndex
from heurist.index.sync import IndexSync
from heurist.queue import sql

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Serving:
    model: str
    embedder: Embedder
    index: VectorIndex
    sync: IndexSync


class ServingIndex:
    """What the index sync loop drives: ``sync`` and ``check`` follow the serving model
    first, then bring the current index up to date. ``before_sync`` (the migration's
    switch attempt) runs first on every pass."""

    def __init__(
        self,
        db: Database,
        embedders: EmbedderSet,
        *,
        before_sync: Callable[[], object] | None = None,
    ) -> None:
        self.db = db
        self.embedders = embedders
        self.before_sync = before_sync
        self.current = self._make(embedders.primary)
        # Switches of the serving model seen while serving (not the start-up's first read).
        self.switches = 0
        self._built = False
        self._missing: str | None = None

    def _make(self, embedder: Embedder) -> Serving:
        index = VectorIndex(embedder.dim)
        return Serving(
            embedder.model_id, embedder, index, IndexSync(self.db, index, model=embedder.model_id)
        )

    def follow(self, *, load: bool = True) -> bool:
        """Serve the model the database names; True if this call changed it (and rebuilt).

        ``load``: load the new query embedder before the swap, so semantic search never
        lacks a model (at start-up the warm-up thread loads it instead)."""
        with self.db.read() as conn:
            row = sql.read_serving(conn)
        if row.model is None or row.model == self.current.model:
            return False
        embedder = self.embedders.get(row.model, row.spec)
        if embedder is None:
            if self._missing != row.model:
                log.error(
                    "the database serves model %s, which this process cannot build: search "
                    "stays on %s; configure %s here too",
                    row.model,
                    self.current.model,
                    row.model,
                )
                self._missing = row.model
            return False
        if load:
            embedder.load()
        nxt = self._make(embedder)
        nxt.sync.rebuild()
        previous, self.current = self.current, nxt
        if self._built:
            self.switches += 1
            log.warning("search now serves model %s (was %s)", nxt.model, previous.model)
        else:
            log.info("search serves model %s, the database's serving model", nxt.model)
        return True

    def rebuild(self, *, load: bool = True) -> int:
        """Follow the serving model and reload the index from the database."""
        if not self.follow(load=load):
            self.current.sync.rebuild()
        self._built = True
        return len(self.current.index)

    def sync(self) -> int:
        self._before()
        self.follow()
        return self.current.sync.sync()

    def check(self) -> bool:
        self._before()
        return self.follow() or self.current.sync.check()

    def _before(self) -> None:
        if self.before_sync is not None:
            self.before_sync()
