"""Lease renewal from a thread of its own, so a long model call never loses its lease.

The model call holds no lock the heartbeat needs; the heartbeat opens its own short
write transactions. A row whose lease could not be extended (the row was edited,
deleted or taken over after an expiry) simply drops out of the UPDATE's match.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault, FaultLog
from heurist.queue import sql

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        db: Database,
        *,
        holder: str,
        lease_seconds: float,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.db = db
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.clock = clock
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{holder}", daemon=True)
        self.beats = 0
        self._faults = FaultLog(log, f"lease renewal of {holder}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def hold(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._held.update(ids)

    def drop(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._held.difference_update(ids)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = sorted(self._held)
            if ids:
                self._beat(ids)

    def _beat(self, ids: list[str]) -> None:
        try:
            with self.db.write() as conn:
                sql.heartbeat(
                    conn,
                    holder=self.holder,
                    ids=ids,
                    now=self.clock(),
                    lease_seconds=self.lease_seconds,
                )
        except DatabaseFault as fault:
            # The next beat retries; the lease is long enough to survive a missed one.
            self._faults.failed(fault.reason)
            return
        self.beats += 1
        self._faults.recovered()
