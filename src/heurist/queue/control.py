"""Operating the queue: status, pause, resume, drain, retry, requeue (DESIGN §3.7-3.9).

Everything here acts through the database, so it holds for every worker of every
process, and survives restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from heurist.db.engine import Database
from heurist.errors import Conflict, QueuePaused
from heurist.queue import sql
from heurist.signals import Signal

DRAIN_POLL_SECONDS = 0.05


class QueueControl:
    def __init__(
        self, db: Database, work: Signal, *, clock: Callable[[], float] = time.time
    ) -> None:
        """``work`` is announced whenever rows become claimable again (resume, retry)."""
        self.db = db
        self.work = work
        self.clock = clock

    def counts(self) -> dict[str, dict[str, int]]:
        with self.db.read() as conn:
            counts = sql.status_counts(conn)
        return {
            status: by_kind | {"total": sum(by_kind.values())} for status, by_kind in counts.items()
        }

    def pause_state(self) -> dict[str, Any]:
        with self.db.read() as conn:
            flag = sql.read_pause(conn)
        now = self.clock()
        import_paused = flag.import_paused(now)
        expires_in = (flag.import_paused_until or 0.0) - now
        return {
            "paused": flag.paused(now),
            "operator_paused": flag.operator_paused,
            "import_paused": import_paused,
            "import_paused_by": flag.import_paused_by if import_paused else None,
            "import_pause_expires_in": round(expires_in, 3) if import_paused else None,
        }

    def is_paused(self) -> bool:
        return bool(self.pause_state()["paused"])

    def pause(self) -> dict[str, Any]:
        with self.db.write() as conn:
            sql.set_operator_pause(conn, paused=True, now=self.clock())
        return self.pause_state()

    def resume(self) -> dict[str, Any]:
        with self.db.write() as conn:
            sql.set_operator_pause(conn, paused=False, now=self.clock())
        self.work.announce()
        return self.pause_state()

    def drain(self, timeout: float) -> dict[str, Any]:
        """Wait until nothing is pending or processing; 409 at once while paused. Holds
        the calling thread: the HTTP route waits with :meth:`drain_check` instead."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = self.drain_check()
            if remaining == 0:
                return {"status": "drained", "remaining": 0}
            if time.monotonic() >= deadline:
                return {"status": "timeout", "remaining": remaining}
            time.sleep(DRAIN_POLL_SECONDS)

    def drain_check(self) -> int:
        """One look for a drain: what is still pending or processing; QueuePaused (409)
        while paused, since a drain could then never finish."""
        if self.is_paused():
            raise QueuePaused(
                "the queue is paused: a drain could never finish; resume it first",
                details={"remaining": self.in_flight()},
            )
        return self.in_flight()

    def in_flight(self) -> int:
        with self.db.read() as conn:
            return sql.in_flight(conn)

    def retry_failed(self, *, kind: str | None = None, ids: Sequence[str] | None = None) -> int:
        with self.db.write() as conn:
            moved = sql.retry_failed(conn, kind=kind, ids=ids)
        if moved:
            self.work.announce()
        return moved

    def requeue_stale(self) -> int:
        with self.db.write() as conn:
            moved = sql.requeue_stale(conn, now=self.clock())
        if moved:
            self.work.announce()
        return moved

    def failed(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return sql.failed_entries(conn, limit=limit)

    def oldest_pending_age(self) -> float | None:
        with self.db.read() as conn:
            oldest = sql.oldest_pending_queued_at(conn)
        return None if oldest is None else max(0.0, self.clock() - oldest)

    def acquire_import_pause(self, holder: str, lease_seconds: float) -> dict[str, Any]:
        """Take (or renew) the importer's pause; refuses if another importer holds it."""
        now = self.clock()
        with self.db.write() as conn:
            flag = sql.read_pause(conn)
            held_by = flag.import_paused_by
            if flag.import_paused(now) and held_by not in (None, holder):
                raise Conflict(f"another import holds the queue: {held_by}")
            sql.set_import_pause(conn, holder=holder, until=now + lease_seconds, now=now)
        return self.pause_state()

    def release_import_pause(self, holder: str) -> dict[str, Any]:
        with self.db.write() as conn:
            if sql.read_pause(conn).import_paused_by == holder:
                sql.set_import_pause(conn, holder=None, until=None, now=self.clock())
        self.work.announce()
        return self.pause_state()
