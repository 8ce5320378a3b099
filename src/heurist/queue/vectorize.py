"""From a claimed batch to its vectors, per model, calling each model only for text it has
never embedded (DESIGN §11: the embedding cache).

For every model the batch is embedded with (one normally; the serving model and the
target during a model change):

1. entries whose vectors of that model are current (written for the claimed revision)
   need nothing: a re-import of unchanged content, or the back-fill of a model they have;
2. every other chunk is looked up by (model, SHA-256 of its exact text) in the cache;
3. the misses, each distinct text once, go to the model in one call.

All reads happen before the model call, outside any write transaction; the write-back
stores the vectors and the fresh cache rows in the worker's one short transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection

from heurist.db.engine import Database
from heurist.embedding.base import Embedder
from heurist.index import embedding_cache as cache
from heurist.index import vectors as vector_store
from heurist.queue.batching import embed_batched


class CacheCounts:
    """Chunks found in the cache (no model call) and sent to a model, since start."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def add(self, hits: int, misses: int) -> None:
        with self._lock:
            self.hits += hits
            self.misses += misses

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses}


@dataclass(frozen=True, slots=True)
class Item:
    """One claimed entry: its id, the revision claimed, the texts to embed."""

    entry_id: str
    revision: int
    chunks: list[str]


@dataclass
class Planned:
    """Per model, one matrix per item (None: that model's vectors are current already),
    and the vectors computed by a model call, for the cache."""

    vectors: dict[str, list[np.ndarray | None]] = field(default_factory=dict)
    fresh: list[tuple[str, str, np.ndarray]] = field(default_factory=list)

    def write(self, conn: Connection, index: int, item: Item) -> None:
        """Store item ``index``'s vectors of every model that needed them."""
        for model, matrices in self.vectors.items():
            matrix = matrices[index]
            if matrix is not None:
                vector_store.upsert_entry_vectors(
                    conn,
                    entry_id=item.entry_id,
                    revision=item.revision,
                    model=model,
                    chunks=item.chunks,
                    matrix=matrix,
                )

    def remember(self, conn: Connection) -> None:
        cache.store(conn, self.fresh)


class Vectorizer:
    """``models`` says which embedders a batch is embedded with now (asked per batch)."""

    def __init__(
        self,
        db: Database,
        models: Callable[[], list[Embedder]],
        counts: CacheCounts,
        *,
        batch_tokens: int = 4096,
    ) -> None:
        self.db = db
        self.models = models
        self.counts = counts
        # Padded tokens per model call: the misses go in length-sorted calls (batching.py).
        self.batch_tokens = batch_tokens

    def compute(self, items: Sequence[Item]) -> Planned:
        """The vectors of ``items`` for every model; a model's error propagates as is."""
        embedders = self.models()
        names = [e.model_id for e in embedders]
        hashes = [[cache.text_hash(c) for c in item.chunks] for item in items]
        with self.db.read() as conn:
            current = vector_store.current_models(
                conn, {i.entry_id: i.revision for i in items}, names
            )
            known = {
                name: cache.lookup(
                    conn,
                    name,
                    (
                        h
                        for item, hs in zip(items, hashes, strict=True)
                        for h in hs
                        if (item.entry_id, name) not in current
                    ),
                )
                for name in names
            }
        planned = Planned()
        for embedder in embedders:
            planned.vectors[embedder.model_id] = self._for_model(
                embedder, items, hashes, current, known[embedder.model_id], planned
            )
        return planned

    def _for_model(
        self,
        embedder: Embedder,
        items: Sequence[Item],
        hashes: list[list[str]],
        current: set[tuple[str, str]],
        known: dict[str, np.ndarray],
        planned: Planned,
    ) -> list[np.ndarray | None]:
        name = embedder.model_id
        needed = [i for i, item in enumerate(items) if (item.entry_id, name) not in current]
        misses: dict[str, str] = {}
        hits = 0
        for i in needed:
            for digest, text in zip(hashes[i], items[i].chunks, strict=True):
                if digest in known:
                    hits += 1
                else:
                    misses.setdefault(digest, text)
        if misses:
            matrix = embed_batched(embedder, list(misses.values()), self.batch_tokens)
            for digest, vec in zip(misses, matrix, strict=True):
                known[digest] = vec
                planned.fresh.append((name, digest, vec))
        self.counts.add(hits, len(misses))
        wanted = set(needed)
        return [
            np.stack([known[h] for h in hashes[i]]) if i in wanted else None
            for i in range(len(items))
        ]
