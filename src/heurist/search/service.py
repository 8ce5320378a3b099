"""Search: keyword, semantic, and hybrid (a fusion of the two lists).

A search never waits on the queue: pending entries are found through the keyword
side, and when the model is not loaded yet the semantic side is reported as
unavailable instead of loading it inside the request. Filters are applied inside
both retrievers (SQL ``WHERE`` and a FAISS id selector), never after a top-k cut.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sqlalchemy import select

from heurist.db.engine import Database
from heurist.db.schema import entries
from heurist.db.visibility import visible
from heurist.domain.vocabulary import Fusion, Kind, SearchMode
from heurist.errors import InvalidInput
from heurist.index import vectors as vector_store
from heurist.index.serving import Serving, ServingIndex
from heurist.search.budget import TermCounts
from heurist.search.fusion import Candidate, fuse
from heurist.search.keyword import Filters, keyword_search, keyword_snippets
from heurist.search.snippets import chunk_body, clip, lead

__all__ = ["CANDIDATES", "DEFAULT_FUSION", "Candidate", "QueryCache", "SearchService"]

# Each retriever hands the fusion its top 100: deep enough that an entry ranked
# low by one side and high by the other still meets itself.
CANDIDATES = 100
# Min-max fusion beat RRF on SciFact's training split, 0.740 against 0.716 nDCG@10 with no
# weight tuned (docs/benchmarks.md, bench/retrieval.py); `fusion=rrf` is still on offer.
DEFAULT_FUSION = Fusion.MINMAX
# The two retrievers, named after the modes that use them alone (``matched_by``, ``ranks``).
KEYWORD, SEMANTIC = SearchMode.KEYWORD, SearchMode.SEMANTIC


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
        self,
        db: Database,
        serving: ServingIndex,
        *,
        cache_size: int,
        fusion: str = DEFAULT_FUSION,
    ) -> None:
        if not Fusion.has(fusion):
            raise ValueError(f"unknown fusion {fusion!r}; expected one of {Fusion.listing()}")
        self.db = db
        # The serving model's index and query embedder, read once per search (a model
        # change swaps both at once).
        self.serving = serving
        self.cache = QueryCache(cache_size)
        self.term_counts = TermCounts()
        self.fusion = fusion
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search-semantic")

    def close(self) -> None:
        """Stop the helper threads (idle between searches)."""
        self._pool.shutdown(wait=True)

    def search(
        self,
        query: str,
        *,
        mode: str,
        filters: Filters,
        limit: int,
        fusion: str | None = None,
    ) -> dict[str, Any]:
        if not query.strip():
            # The model embeds no blank text: a whitespace query is the caller's mistake.
            raise InvalidInput("q must not be blank (whitespace only)", field="q")
        notes: list[str] = []
        lists: dict[str, list[Candidate]] = {}
        depth = max(limit, CANDIDATES) if mode == SearchMode.HYBRID else limit
        semantic: list[Candidate] | None = None
        if mode == SearchMode.HYBRID:
            # The query embedding (a model call of ~10 ms that releases the GIL) runs
            # while the keyword SQL does: a cold hybrid query costs the slower of the two.
            pending = self._pool.submit(self._semantic, query, filters, depth)
            lists[KEYWORD] = self._keyword(query, filters, depth)
            semantic = pending.result()
        elif mode == SearchMode.KEYWORD:
            lists[KEYWORD] = self._keyword(query, filters, depth)
        else:
            semantic = self._semantic(query, filters, depth)
        if mode in (SearchMode.SEMANTIC, SearchMode.HYBRID):
            if semantic is None:
                notes.append("semantic retrieval unavailable: the model is still loading")
            else:
                lists[SEMANTIC] = semantic
        method = fusion or self.fusion
        ranked = (
            fuse(lists, method) if mode == SearchMode.HYBRID else next(iter(lists.values()), [])
        )
        results = self._hydrate(query, ranked[:limit])
        out: dict[str, Any] = {"results": results, "mode": mode, "count": len(results)}
        if mode == SearchMode.HYBRID:
            out["fusion"] = method
        if notes:
            out["notes"] = notes
        return out

    def _keyword(self, query: str, filters: Filters, depth: int) -> list[Candidate]:
        with self.db.read() as conn:
            hits = keyword_search(conn, query, filters, depth, self.term_counts)
        return [
            Candidate(
                h.entry_id,
                h.score,
                [KEYWORD],
                ranks={KEYWORD: i},
                scores={KEYWORD: h.score},
            )
            for i, h in enumerate(hits)
        ]

    def _semantic(self, query: str, filters: Filters, depth: int) -> list[Candidate] | None:
        serving = self.serving.current
        vec = self.query_vector(query, serving)
        if vec is None:
            return None
        hits = serving.index.search(
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
                [SEMANTIC],
                chunk=h.chunk_index,
                ranks={SEMANTIC: i},
                scores={SEMANTIC: h.score},
            )
            for i, h in enumerate(hits)
        ]

    def query_vector(self, query: str, serving: Serving | None = None) -> np.ndarray | None:
        """The query's embedding by the serving model, from the LRU cache or one model call;
        None if the model is not loaded."""
        serving = serving or self.serving.current
        text = query.strip()
        key = f"{serving.model}\x00{text}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not serving.embedder.loaded:
            return None
        vec = serving.embedder.embed([text])[0]
        self.cache.put(key, vec)
        return vec

    def _hydrate(self, query: str, ranked: list[Candidate]) -> list[dict[str, Any]]:
        """Rows for the ranked ids, in order, with snippets; entries deleted meanwhile drop out."""
        if not ranked:
            return []
        ids = [c.entry_id for c in ranked]
        wanted_chunks = [(c.entry_id, c.chunk) for c in ranked if c.chunk is not None]
        by_keyword = [c.entry_id for c in ranked if KEYWORD in c.matched_by]
        with self.db.read() as conn:
            rows = {
                r.id: r
                for r in conn.execute(
                    select(entries).where(entries.c.id.in_(ids), visible(entries))
                ).all()
            }
            chunks = vector_store.chunk_texts(conn, wanted_chunks)
            excerpts = keyword_snippets(conn, query, by_keyword)
        out = []
        for cand in ranked:
            row = rows.get(cand.entry_id)
            if row is not None:
                cand.snippet = excerpts.get(cand.entry_id, "")
                out.append(_result(row, cand, _snippet(row, cand, chunks)))
        return out


def _snippet(row: Any, cand: Candidate, chunks: dict[tuple[str, int], str]) -> str:
    """A manual's best chunk when the semantic side found one; else the keyword excerpt.

    A manual is returned once even when several of its chunks matched; the chunk the
    semantic side ranked best is the part of it worth showing. An experience is one
    short text, so the keyword side's highlighted excerpt says more.
    """
    chunk = chunks.get((cand.entry_id, cand.chunk)) if cand.chunk is not None else None
    if chunk and (row.kind == Kind.MANUAL or not cand.snippet):
        return clip(chunk_body(row, chunk))
    return clip(cand.snippet or lead(row))


def _result(row: Any, cand: Candidate, snippet: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "category": row.category_code,
        "section": row.section,
        "title": row.title,
        "score": round(cand.score, 6),
        "snippet": snippet,
        "embedding_status": row.embedding_status,
        "matched_by": cand.matched_by,
        "ranks": cand.ranks,
        "chunk": cand.chunk,
    }
