"""Search: keyword, semantic, and hybrid (reciprocal-rank fusion of the two).

A search never waits on the queue: pending entries are found through the keyword
side, and when the model is not loaded yet the semantic side is reported as
unavailable instead of loading it inside the request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from heurist.db.engine import Database
from heurist.db.schema import entries
from heurist.embedding.base import Embedder
from heurist.index.faiss_index import VectorIndex
from heurist.search.keyword import Filters, keyword_search
from heurist.store import vectors as vector_store

MODES = ("hybrid", "semantic", "keyword")
RRF_K = 60
CANDIDATES = 100
SNIPPET_CHARS = 240


@dataclass
class Candidate:
    entry_id: str
    score: float = 0.0
    matched_by: list[str] = field(default_factory=list)
    snippet: str = ""
    chunk: int | None = None
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


class QueryCache:
    """LRU of query embeddings: repeated queries cost no model call."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vec = self._data.get(key)
            if vec is not None:
                self._data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return vec

    def put(self, key: str, vec: np.ndarray) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = vec
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class SearchService:
    def __init__(
        self, db: Database, embedder: Embedder, index: VectorIndex, *, cache_size: int
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.index = index
        self.cache = QueryCache(cache_size)

    def search(self, query: str, *, mode: str, filters: Filters, limit: int) -> dict[str, Any]:
        notes: list[str] = []
        lists: dict[str, list[Candidate]] = {}
        depth = max(limit, CANDIDATES) if mode == "hybrid" else limit
        if mode in ("keyword", "hybrid"):
            lists["keyword"] = self._keyword(query, filters, depth)
        if mode in ("semantic", "hybrid"):
            semantic = self._semantic(query, filters, depth)
            if semantic is None:
                notes.append("semantic retrieval unavailable: the model is still loading")
            else:
                lists["semantic"] = semantic
        ranked = fuse(lists) if mode == "hybrid" else next(iter(lists.values()), [])
        results = self._hydrate(ranked[:limit])
        out: dict[str, Any] = {"results": results, "mode": mode, "count": len(results)}
        if notes:
            out["notes"] = notes
        return out

    def _keyword(self, query: str, filters: Filters, depth: int) -> list[Candidate]:
        with self.db.read() as conn:
            hits = keyword_search(conn, query, filters, depth)
        return [
            Candidate(
                h.entry_id,
                h.score,
                ["keyword"],
                h.snippet,
                None,
                {"keyword": i},
                {"keyword": h.score},
            )
            for i, h in enumerate(hits)
        ]

    def _semantic(self, query: str, filters: Filters, depth: int) -> list[Candidate] | None:
        vec = self.query_vector(query)
        if vec is None:
            return None
        hits = self.index.search(
            vec,
            depth,
            kinds=[filters.kind] if filters.kind else None,
            categories=[filters.category] if filters.category else None,
            sections=[filters.section] if filters.section else None,
        )
        return [
            Candidate(
                h.entry_id,
                h.score,
                ["semantic"],
                "",
                h.chunk_index,
                {"semantic": i},
                {"semantic": h.score},
            )
            for i, h in enumerate(hits)
        ]

    def query_vector(self, query: str) -> np.ndarray | None:
        """The query's embedding, from the LRU cache or one model call; None if not loaded."""
        key = query.strip()
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not self.embedder.loaded:
            return None
        vec = self.embedder.embed([key])[0]
        self.cache.put(key, vec)
        return vec

    def _hydrate(self, ranked: list[Candidate]) -> list[dict[str, Any]]:
        if not ranked:
            return []
        ids = [c.entry_id for c in ranked]
        with self.db.read() as conn:
            rows = {
                r.id: r for r in conn.execute(select(entries).where(entries.c.id.in_(ids))).all()
            }
            chunks = vector_store.chunk_texts(
                conn,
                [(c.entry_id, c.chunk) for c in ranked if c.chunk is not None and not c.snippet],
            )
        out = []
        for cand in ranked:
            row = rows.get(cand.entry_id)
            if row is None:  # deleted since the index saw it
                continue
            snippet = cand.snippet or chunks.get((cand.entry_id, cand.chunk or 0)) or _lead(row)
            out.append(_result(row, cand, snippet))
        return out


def fuse(lists: dict[str, list[Candidate]], k: int = RRF_K) -> list[Candidate]:
    """Reciprocal-rank fusion: score = sum over retrievers of 1 / (k + rank)."""
    merged: dict[str, Candidate] = {}
    for name, ranked in lists.items():
        for rank, cand in enumerate(ranked):
            into = merged.setdefault(cand.entry_id, Candidate(cand.entry_id))
            into.score += 1.0 / (k + rank + 1)
            into.matched_by.append(name)
            into.ranks[name] = rank
            into.scores[name] = cand.scores.get(name, cand.score)
            if name == "semantic":
                into.chunk = cand.chunk
            if cand.snippet and not into.snippet:
                into.snippet = cand.snippet
    return sorted(merged.values(), key=lambda c: (-c.score, c.entry_id))


def _lead(row: Any) -> str:
    body = row.playbook or row.summary or row.content or ""
    return body[:SNIPPET_CHARS]


def _result(row: Any, cand: Candidate, snippet: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "category": row.category_code,
        "section": row.section,
        "title": row.title,
        "score": round(cand.score, 6),
        "snippet": snippet[: SNIPPET_CHARS * 2],
        "embedding_status": row.embedding_status,
        "matched_by": cand.matched_by,
        "ranks": cand.ranks,
    }
