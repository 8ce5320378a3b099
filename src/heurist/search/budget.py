"""A work budget for keyword queries: the commonest words go when they would cost too much.

FTS5 ranks every row an OR query matches before it can cut the top 100, so the cost of
a query grows with the postings of its words: at 100,000 entries a ten-word claim
matches ~35,000 rows and takes tens of milliseconds. The words that match the most rows
are the ones bm25 weighs least (low idf), so dropping them first changes little: on
SciFact's training split a budget of 10,000 postings left nDCG@10 unchanged (0.705) and
cut the 100,000-entry p95 from 63 ms to 16 ms (docs/benchmarks.md). At least one word
always stays, so a query of common words only still finds something.

Document frequencies come from FTS5 itself (so the words are stemmed as the index
stems them), one ``count(*)`` per word, cached for a few minutes: they drift slowly.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Connection, text

MATCH_BUDGET = 10_000
CACHE_SECONDS = 300.0
CACHE_SIZE = 100_000


class TermCounts:
    """How many entries each word matches, cached per process for `ttl` seconds."""

    def __init__(self, *, ttl: float = CACHE_SECONDS, size: int = CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._cache: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, words: list[str]) -> dict[str, int]:
        now = time.monotonic()
        known: dict[str, int] = {}
        with self._lock:
            for word in words:
                hit = self._cache.get(word)
                if hit is not None and hit[1] > now:
                    known[word] = hit[0]
        missing = [w for w in words if w not in known]
        fresh = {w: _count(conn, w) for w in missing}
        if fresh:
            with self._lock:
                if len(self._cache) + len(fresh) > self.size:
                    self._cache.clear()  # rare; a cold cache only costs a few lookups
                self._cache.update({w: (c, now + self.ttl) for w, c in fresh.items()})
        return known | fresh


def within_budget(
    words: list[str], counts: dict[str, int], budget: int = MATCH_BUDGET
) -> list[str]:
    """The query's words without its commonest ones, until their postings fit the budget."""
    kept = sorted(words, key=lambda w: counts.get(w, 0))
    total = sum(counts.get(w, 0) for w in kept)
    while len(kept) > 1 and total > budget:
        total -= counts.get(kept.pop(), 0)
    keep = set(kept)
    return [w for w in words if w in keep]


def _count(conn: Connection, word: str) -> int:
    row = conn.execute(
        text("SELECT count(*) FROM entries_fts WHERE entries_fts MATCH :w"), {"w": f'"{word}"'}
    ).scalar_one()
    return int(row)
