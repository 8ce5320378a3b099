"""Keep this process's FAISS index in step with the vector rows (DESIGN §4).

The index replays ``vector_changes`` after the last change number it has applied.
On PostgreSQL change numbers do not commit in order: a transaction holding number 10
can commit after 11 is visible. So the sync keeps a *low-water mark* (every change at
or below it has been applied) and remembers the numbers above it that it has already
applied; a missing number is a gap that is re-read on every pass until it shows up.
A gap that never fills (a rolled-back transaction burns its number on PostgreSQL) is
given up after ``gap_timeout``; the periodic count check repairs anything missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault, FaultLog
from heurist.index import vectors as vector_store
from heurist.index.faiss_index import VectorIndex
from heurist.signals import Signal

log = logging.getLogger(__name__)

GAP_TIMEOUT_SECONDS = 120.0
# Changes older than this are pruned from the log (each instance applies them in ~1 s).
CHANGE_RETENTION_SECONDS = 24 * 3600.0
# After a rebuild, replay this many recent changes: on PostgreSQL a lower number may
# still have been uncommitted when the rebuild read the maximum.
REBUILD_REPLAY = 1_000
PAGE = 10_000
CHECK_EVERY_SECONDS = 30.0
# While the database is down the loop retries less often, but catches up within seconds.
FAULT_BACKOFF_MAX = 5.0


class IndexSync:
    def __init__(
        self,
        db: Database,
        index: VectorIndex,
        *,
        model: str,
        clock: Callable[[], float] = time.monotonic,
        gap_timeout: float = GAP_TIMEOUT_SECONDS,
    ) -> None:
        self.db = db
        self.index = index
        self.model = model
        self.clock = clock
        self.gap_timeout = gap_timeout
        self.low_water = 0
        self.applied_above: set[int] = set()
        self.gaps: dict[int, float] = {}
        self._lock = threading.Lock()

    @property
    def high_water(self) -> int:
        return max(self.applied_above, default=self.low_water)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Reload every vector of the configured model from the database."""
        with self._lock:
            with self.db.read() as conn:
                start = vector_store.max_change_seq(conn)
            loaded = 0
            with self.db.read() as conn, self.index.exclusive():
                self.index.clear()
                for page in vector_store.iter_all_vectors(conn, self.model):
                    self.index.upsert(page)
                    loaded += len(page)
                    if progress:
                        progress(loaded)
            # Changes committed during the load are replayed: re-applying is harmless.
            self.low_water = max(0, start - REBUILD_REPLAY)
            self.applied_above, self.gaps = set(), {}
        self.sync()
        log.info("index rebuilt from the database: %d vectors of %s", loaded, self.model)
        return loaded

    def sync(self) -> int:
        """Apply every change not yet applied; returns how many were applied."""
        applied = 0
        with self._lock:
            while True:
                before = self.low_water
                count, full = self._sync_page()
                applied += count
                if not full or self.low_water == before:
                    break
        return applied

    def _sync_page(self) -> tuple[int, bool]:
        with self.db.read() as conn:
            changes = vector_store.changes_after(conn, self.low_water, limit=PAGE)
        fresh = [c for c in changes if c.seq not in self.applied_above]
        if fresh:
            self._apply({c.vector_id for c in fresh})
            self.applied_above.update(c.seq for c in fresh)
        self._advance()
        return len(fresh), len(changes) == PAGE

    def _apply(self, vector_ids: set[int]) -> None:
        with self.db.read() as conn:
            rows = vector_store.read_vectors(conn, sorted(vector_ids))
        current = [r for r in rows if r.model == self.model]
        keep = {r.vector_id for r in current}
        self.index.remove([v for v in vector_ids if v not in keep])
        if current:
            self.index.upsert(current)

    def _advance(self) -> None:
        """Move the low-water mark over every contiguous applied number; age the gaps."""
        now = self.clock()
        top = self.high_water
        mark = self.low_water
        while mark < top:
            nxt = mark + 1
            if nxt in self.applied_above:
                self.applied_above.discard(nxt)
            elif now - self.gaps.setdefault(nxt, now) > self.gap_timeout:
                log.warning("change %d never committed; giving up on it", nxt)
                del self.gaps[nxt]
            else:
                break
            mark = nxt
        self.low_water = mark
        # A gap applied since it was noticed is no longer one (it stayed counted before).
        self.gaps = {
            seq: t for seq, t in self.gaps.items() if seq > mark and seq not in self.applied_above
        }
        for seq in range(mark + 1, top):
            if seq not in self.applied_above:
                self.gaps.setdefault(seq, now)

    def lag(self) -> dict[str, int]:
        """How far behind the database this index is."""
        with self.db.read() as conn:
            db_max = vector_store.max_change_seq(conn)
            db_count = vector_store.count_vectors(conn, self.model)
        return {
            "changes_behind": max(0, db_max - self.high_water) + len(self.gaps),
            "db_vectors": db_count,
            "index_vectors": len(self.index),
        }

    def check(self) -> bool:
        """Compare counts with the database and rebuild on a mismatch; True if repaired."""
        self.sync()
        self.prune()
        state = self.lag()
        if state["changes_behind"] == 0 and state["db_vectors"] != state["index_vectors"]:
            log.warning(
                "index has %(index_vectors)d vectors, database %(db_vectors)d: rebuilding", state
            )
            self.rebuild()
            return True
        return False

    def prune(self, retention: float = CHANGE_RETENTION_SECONDS) -> int:
        """Drop change-log rows every index has long applied (see prune_changes)."""
        with self.db.write() as conn:
            pruned = vector_store.prune_changes(conn, before=time.time() - retention)
        if pruned:
            log.info("pruned %d vector changes older than %.0f s", pruned, retention)
        return pruned


class Syncable(Protocol):
    """What the loop drives: an ``IndexSync``, or the serving index that wraps one."""

    def sync(self) -> int: ...

    def check(self) -> bool: ...


class IndexSyncLoop:
    """A thread that syncs when new vectors are announced (by a worker of this process, or
    of another one over PostgreSQL) and at least every interval."""

    def __init__(self, sync: Syncable, *, interval: float, vectors: Signal) -> None:
        self.sync = sync
        self.interval = interval
        self.vectors = vectors
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-sync", daemon=True)
        self._last_check = time.monotonic()
        self._faults = FaultLog(log, "index sync")
        self._delay = interval

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.vectors.wake()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        # Noted before each pass: vectors announced during a pass make the next wait return.
        generation = self.vectors.generation
        while not self._stop.is_set():
            self.vectors.wait(generation, self._delay)
            generation = self.vectors.generation
            if self._stop.is_set():
                return
            try:
                self._tick()
            except DatabaseFault as fault:
                # Nothing is lost: the next pass resumes from the low-water mark.
                self._faults.failed(fault.reason, "the index keeps what it has meanwhile")
                self._delay = max(self.interval, min(FAULT_BACKOFF_MAX, self._delay * 2))
                continue
            except Exception:  # the loop must survive a bad pass; the next one retries
                log.exception("index sync pass failed; retrying in %.1fs", self.interval)
            else:
                self._faults.recovered()
            self._delay = self.interval

    def _tick(self) -> None:
        if time.monotonic() - self._last_check > CHECK_EVERY_SECONDS:
            self._last_check = time.monotonic()
            self.sync.check()
        else:
            self.sync.sync()
