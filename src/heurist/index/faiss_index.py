"""The in-memory vector index: a cache of the database's vector rows.

The database is the source of truth; this index can be thrown away and rebuilt
from it at any time. A separate sync module feeds it with `upsert` / `remove`.

Why it looks the way it does (DESIGN §4, §5):

- FAISS `IndexIDMap2(IndexFlatIP)` is exact and adds 100k vectors in ~0.1 s,
  but `remove_ids` scans the whole index on every call. Replacements and
  removals are therefore applied as ONE `remove_ids` call per batch.
- Filters (kind, category, section, state) are applied inside the FAISS search with
  an ID selector, never after a top-k cut, so a small category is never
  emptied by a large one crowding the top of the list.
- One manual has many chunks, so the search asks for more vectors than
  `limit` and doubles k until it has `limit` distinct entries or the
  (filtered) index is exhausted.
- Per-vector metadata lives in numpy columns, so the allowed-id array of a
  filter is a couple of vectorised comparisons (well under 1 ms at 100k), and
  is cached per filter combination until the next change.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from heurist.index.vectors import VectorRow

__all__ = ["Hit", "VectorIndex", "VectorRow"]

# Search asks for `limit * _OVERFETCH` vectors first (at least _MIN_K), because
# several hits may be chunks of one entry; it doubles k when that is not enough.
_OVERFETCH = 4
_MIN_K = 32
# A bitmap selector is built in ~0.1 ms and tested in O(1); it costs
# max_id / 8 bytes, so above this id we fall back to IDSelectorBatch (a hash set).
_BITMAP_MAX_ID = 1 << 24
# Filter combinations cached between changes; the cache is cleared when full.
_FILTER_CACHE_SIZE = 64

# Metadata column numbers in _Metadata._cols.
_ID, _KIND, _CATEGORY, _SECTION, _STATE, _CHUNK = range(6)
_FIELDS = (_KIND, _CATEGORY, _SECTION, _STATE)
_COLUMNS = 6


@dataclass(frozen=True, slots=True)
class Hit:
    """One entry found by a search, with its best-scoring chunk."""

    entry_id: str
    vector_id: int
    chunk_index: int
    score: float


@dataclass(frozen=True, slots=True)
class _Filter:
    """How many vectors a filter allows and the FAISS parameters that enforce it."""

    count: int
    params: faiss.SearchParameters | None  # None: no filter
    buffer: np.ndarray | None = None  # memory the selector points into; must outlive it


class _Metadata:
    """Per-vector metadata in slot-addressed numpy columns.

    Removed slots are recycled, so the columns never need compaction and a
    filter mask is a few vectorised comparisons over at most the high-water mark.
    String values (kind, category, section, state) are stored as small integer codes.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._cols = np.zeros((0, _COLUMNS), dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._entries: list[str] = []
        self._slot: dict[int, int] = {}
        self._free: list[int] = []
        self._size = 0
        self._codes: tuple[dict[str | None, int], ...] = ({}, {}, {}, {})
        self._entry_counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, vector_id: int) -> bool:
        return vector_id in self._slot

    def entry_count(self) -> int:
        return len(self._entry_counts)

    def describe(self, vector_id: int) -> tuple[str, int]:
        """The entry id and chunk index of a vector."""
        slot = self._slot[vector_id]
        return self._entries[slot], int(self._cols[slot, _CHUNK])

    def put_many(self, items: Collection[VectorRow]) -> None:
        """Insert or overwrite the metadata of vectors (ids unique), one numpy write for all."""
        for item in items:
            self.drop(item.vector_id)
        slots = self._take_slots(len(items))
        kinds, categories, sections, states = self._codes
        self._cols[slots] = [
            (
                item.vector_id,
                kinds.setdefault(item.kind, len(kinds)),
                categories.setdefault(item.category, len(categories)),
                sections.setdefault(item.section, len(sections)),
                states.setdefault(item.state, len(states)),
                item.chunk_index,
            )
            for item in items
        ]
        self._alive[slots] = True
        counts = self._entry_counts
        for slot, item in zip(slots, items, strict=True):
            self._entries[slot] = item.entry_id
            self._slot[item.vector_id] = slot
            counts[item.entry_id] = counts.get(item.entry_id, 0) + 1

    def drop(self, vector_id: int) -> None:
        """Forget one vector; unknown ids are ignored."""
        slot = self._slot.pop(vector_id, None)
        if slot is None:
            return
        self._alive[slot] = False
        self._free.append(slot)
        entry_id = self._entries[slot]
        remaining = self._entry_counts[entry_id] - 1
        if remaining:
            self._entry_counts[entry_id] = remaining
        else:
            del self._entry_counts[entry_id]

    def allowed_ids(self, filters: Sequence[Collection[str | None] | None]) -> np.ndarray:
        """Vector ids whose (kind, category, section, state) pass every non-None filter."""
        mask = self._alive[: self._size].copy()
        for field_no, (column, allowed) in enumerate(zip(_FIELDS, filters, strict=True)):
            if allowed is None:
                continue
            codes = [self._codes[field_no][v] for v in allowed if v in self._codes[field_no]]
            mask &= np.isin(self._cols[: self._size, column], codes)
        return self._cols[: self._size, _ID][mask]

    def _take_slots(self, count: int) -> list[int]:
        """Free slots first, then new ones past the high-water mark (growing the columns)."""
        reused = [self._free.pop() for _ in range(min(count, len(self._free)))]
        needed = count - len(reused)
        if self._size + needed > len(self._alive):
            self._grow(max(1024, 2 * (self._size + needed)))
        self._size += needed
        return reused + list(range(self._size - needed, self._size))

    def _grow(self, capacity: int) -> None:
        cols = np.zeros((capacity, _COLUMNS), dtype=np.int64)
        cols[: self._size] = self._cols[: self._size]
        alive = np.zeros(capacity, dtype=bool)
        alive[: self._size] = self._alive[: self._size]
        self._cols, self._alive = cols, alive
        self._entries.extend([""] * (capacity - len(self._entries)))


def _make_filter(ids: np.ndarray) -> _Filter:
    """A filter allowing exactly `ids` (external vector ids).

    A bitmap selector when ids are small (built in ~0.1 ms, O(1) per test);
    otherwise IDSelectorBatch, a hash set that copies the ids (~3 ms for 50k).
    """
    if ids.size == 0:
        return _Filter(0, None)
    params = faiss.SearchParameters()
    if ids.max() < _BITMAP_MAX_ID:
        bits = np.zeros(int(ids.max()) + 1, dtype=bool)
        bits[ids] = True
        bitmap = np.packbits(bits, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
        return _Filter(int(ids.size), params, bitmap)
    params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
    return _Filter(int(ids.size), params)


def _filter_key(values: Collection[str | None] | None) -> frozenset[str | None] | None:
    return None if values is None else frozenset(values)


class VectorIndex:
    """Exact inner-product search over normalized vectors, with filters and per-entry dedup.

    Thread-safe: every public method holds one re-entrant lock, because the
    sync module updates the index while request threads search it.
    """

    def __init__(self, dim: int, *, search_threads: int | None = 1) -> None:
        """`search_threads`: OpenMP threads one search may use (None: leave FAISS's setting).

        On the 2-core reference machine a single-query flat search at 100k takes
        ~7 ms on one thread and ~45 ms on two (the threads contend with each
        other and with the embedding workers). OpenMP's thread count belongs to
        the calling thread, so a process-wide call at start-up would not reach
        request threads: it is set in the searching thread, before each search.
        """
        if dim <= 0:
            raise ValueError(f"vector dimension must be positive, got {dim}")
        self._dim = dim
        self._search_threads = search_threads
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._meta = _Metadata()
        self._filters: dict[tuple[Any, ...], _Filter] = {}
        self._lock = threading.RLock()

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        """Number of vectors."""
        with self._lock:
            return len(self._meta)

    def entry_count(self) -> int:
        """Number of distinct entries that have at least one vector."""
        with self._lock:
            return self._meta.entry_count()

    def contains(self, vector_id: int) -> bool:
        with self._lock:
            return vector_id in self._meta

    def upsert(self, items: Sequence[VectorRow]) -> None:
        """Insert or replace vectors by vector_id; within a batch, the last item of an id wins.

        Vector ids must be non-negative (FAISS uses -1 for "no result").
        Existing ids are removed with a single `remove_ids` call, then the batch
        is added with a single `add_with_ids` call.
        """
        batch = {item.vector_id: item for item in items}
        if not batch:
            return
        if min(batch) < 0:
            raise ValueError(f"vector ids must be non-negative, got {min(batch)}")
        vectors = self._stack([item.vector for item in batch.values()])
        ids = np.fromiter(batch.keys(), dtype=np.int64, count=len(batch))
        with self._lock:
            stale = [vid for vid in batch if vid in self._meta]
            if stale:
                self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(stale, dtype=np.int64)))
            self._index.add_with_ids(vectors, ids)
            self._meta.put_many(list(batch.values()))
            self._filters.clear()

    def remove(self, vector_ids: Iterable[int]) -> None:
        """Remove vectors with one `remove_ids` call; ids not present are ignored."""
        with self._lock:
            present = {vid for vid in vector_ids if vid in self._meta}
            if not present:
                return
            ids = np.fromiter(present, dtype=np.int64, count=len(present))
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
            for vid in present:
                self._meta.drop(vid)
            self._filters.clear()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the index for a multi-step change (a rebuild), so no search sees it half-done."""
        with self._lock:
            yield

    def clear(self) -> None:
        with self._lock:
            self._index.reset()
            self._meta.clear()
            self._filters.clear()

    def search(
        self,
        query: np.ndarray,
        limit: int,
        *,
        kinds: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        sections: Collection[str | None] | None = None,
        states: Collection[str] | None = None,
    ) -> list[Hit]:
        """At most `limit` distinct entries, each with its best chunk, by score descending.

        A filter of None allows everything; an empty collection allows nothing.
        Include None in `sections` to allow manuals (which have no section).
        The query should be L2-normalized like the stored vectors.
        """
        query = np.asarray(query)
        q = self._stack([query[0] if query.ndim == 2 and query.shape[0] == 1 else query])
        if limit <= 0:
            return []
        if self._search_threads is not None:
            faiss.omp_set_num_threads(self._search_threads)
        with self._lock:
            allowed = self._filter(kinds, categories, sections, states)
            if allowed.count == 0:
                return []
            return self._search_widening(q, limit, allowed)

    def _search_widening(self, q: np.ndarray, limit: int, allowed: _Filter) -> list[Hit]:
        """Double k until `limit` distinct entries are found or every allowed vector was seen."""
        k = min(allowed.count, max(_MIN_K, limit * _OVERFETCH))
        while True:
            hits = self._distinct_hits(q, k, allowed.params)
            if len(hits) >= limit or k >= allowed.count:
                return hits[:limit]
            k = min(allowed.count, 2 * k)

    def _distinct_hits(
        self, q: np.ndarray, k: int, params: faiss.SearchParameters | None
    ) -> list[Hit]:
        """The top-k vectors collapsed to one hit (the best chunk) per entry, in score order."""
        scores, labels = self._index.search(q, k, params=params)
        hits: dict[str, Hit] = {}
        for score, label in zip(scores[0].tolist(), labels[0].tolist(), strict=True):
            if label < 0:
                break
            entry_id, chunk_index = self._meta.describe(label)
            if entry_id not in hits:
                hits[entry_id] = Hit(entry_id, label, chunk_index, score)
        return list(hits.values())

    def _filter(
        self,
        kinds: Collection[str] | None,
        categories: Collection[str] | None,
        sections: Collection[str | None] | None,
        states: Collection[str] | None = None,
    ) -> _Filter:
        """The filter for a combination, cached until the index changes."""
        if kinds is None and categories is None and sections is None and states is None:
            return _Filter(len(self._meta), None)
        key = (
            _filter_key(kinds),
            _filter_key(categories),
            _filter_key(sections),
            _filter_key(states),
        )
        cached = self._filters.get(key)
        if cached is None:
            cached = _make_filter(self._meta.allowed_ids(key))
            if len(self._filters) >= _FILTER_CACHE_SIZE:
                self._filters.clear()
            self._filters[key] = cached
        return cached

    def _stack(self, vectors: Sequence[np.ndarray]) -> np.ndarray:
        """Vectors as a contiguous float32 (n, dim) matrix; ValueError on a wrong shape or NaN."""
        arrays = [np.asarray(vector, dtype=np.float32) for vector in vectors]
        for array in arrays:
            if array.shape != (self._dim,):
                raise ValueError(
                    f"vector has shape {array.shape}, expected ({self._dim},): "
                    f"the index dimension is {self._dim}"
                )
        matrix = np.stack(arrays)
        if not np.isfinite(matrix).all():
            raise ValueError("vector contains NaN or infinite values")
        return matrix
