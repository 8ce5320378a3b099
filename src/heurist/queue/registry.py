"""The worker registry: each pool reports its workers to the database, so any instance's
``/admin/queue/status`` shows every worker of every process, not just its own.

A report is a few rows upserted every couple of seconds; a worker is alive while its
process keeps reporting. A process that dies simply stops reporting.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault, FaultLog
from heurist.queue import sql
from heurist.queue.worker import WorkerStats

log = logging.getLogger(__name__)

REPORT_SECONDS = 2.0
FORGET_AFTER_SECONDS = 24 * 3600.0
SHOWN_FOR_SECONDS = 600.0


class WorkerReporter:
    def __init__(
        self,
        db: Database,
        stats: Sequence[WorkerStats],
        *,
        clock: Callable[[], float],
        interval: float = REPORT_SECONDS,
    ) -> None:
        self.db = db
        self.stats = stats
        self.clock = clock
        self.interval = interval
        self.started_at = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-reporter", daemon=True)
        self._faults = FaultLog(log, "reporting worker state")

    def start(self) -> None:
        self.report()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.report(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()

    def report(self, *, final: bool = False) -> None:
        now = self.clock()
        rows = [self._row(s, now, final) for s in self.stats]
        try:
            with self.db.write() as conn:
                sql.report_workers(conn, rows)
                sql.prune_workers(conn, before=now - FORGET_AFTER_SECONDS)
        except DatabaseFault as fault:  # liveness only: the next report retries
            self._faults.failed(fault.reason)
            return
        self._faults.recovered()

    def _row(self, s: WorkerStats, now: float, final: bool) -> dict[str, Any]:
        return {
            "slot": s.slot,
            "worker_id": s.holder,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": "stopped" if final else s.state,
            "paused": s.paused,
            "current_batch": json.dumps([] if final else list(s.current_batch)),
            "processed": s.processed,
            "succeeded": s.succeeded,
            "failed": s.failed,
            "restarts": s.restarts,
            "last_run": s.last_run,
            "started_at": self.started_at,
            "last_seen": now,
        }


def fleet(db: Database, *, now: float, interval: float = REPORT_SECONDS) -> list[dict[str, Any]]:
    """Every worker seen lately, with ``alive`` judged from its last report."""
    with db.read() as conn:
        rows = sql.list_workers(conn, seen_since=now - SHOWN_FOR_SECONDS)
    for row in rows:
        row["current_batch"] = json.loads(row["current_batch"])
        row["alive"] = row["state"] != "stopped" and now - row["last_seen"] <= 3 * interval
        row["paused"] = bool(row["paused"])
    return rows
