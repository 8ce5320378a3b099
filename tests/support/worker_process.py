"""`heurist worker` as a real subprocess, its log kept in a file, plus PG helpers.

The worker logs one line per batch with the ids it claimed and how many it embedded:
that per-claim log is how the tests prove no entry was completed twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert

from heurist.db.engine import Database
from heurist.db.schema import entries
from heurist.limits import PRIORITY_INTERACTIVE
from heurist.store.categories import CategoryStore
from heurist.store.entries import new_row
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
BATCH_LINE = re.compile(
    r"batch of (\d+) in \d+ ms: (\d+) embedded, (\d+) failed, (\d+) to retry \(ids ([^;]*);"
)


class WorkerProcess:
    """One `heurist worker --workers N` process with HEURIST_* settings from ``env``."""

    def __init__(
        self,
        log_path: Path,
        db_url: str,
        *,
        threads: int = 2,
        metrics_port: int | None = None,
        **env: str,
    ) -> None:
        self.log_path = log_path
        self.db_url = db_url
        self.env = (
            os.environ
            | {
                "HEURIST_DATABASE_URL": db_url,
                "HEURIST_DATA_DIR": str(log_path.parent / "data"),
                "HEURIST_ADMIN_TOKEN": "test-admin-token",
                "HEURIST_EMBEDDING_PROVIDER": "hash",
                "HEURIST_LOG_LEVEL": "INFO",
            }
            | env
        )
        self.threads = threads
        self.metrics_port = metrics_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        metrics = ["--metrics-port", str(self.metrics_port)] if self.metrics_port else []
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "heurist.cli.main",
                    "worker",
                    "--workers",
                    str(self.threads),
                    *metrics,
                ],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the pool runs and its threads went idle (a first empty claim), as the
        process reports them in the worker registry (this was a 0.5 s sleep)."""
        assert self.proc is not None
        proc = self.proc

        def idle() -> bool:
            assert proc.poll() is None, f"the worker process died:\n{self.log()}"
            states = query(self.db_url, "SELECT state FROM workers WHERE pid = %s", proc.pid)
            return len(states) == self.threads and all(s == "idle" for (s,) in states)

        wait_for(idle, timeout=timeout, message=lambda: f"worker not ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def completed_ids(self) -> list[str]:
        """Ids of every batch this process completed in full (hash batches never fail)."""
        done: list[str] = []
        for match in BATCH_LINE.finditer(self.log()):
            size, embedded = int(match.group(1)), int(match.group(2))
            assert size == embedded, match.group(0)
            done += match.group(5).split(",")
        return done

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def bulk_experiences(db: Database, n: int, *, category: str = "scale") -> list[str]:
    """Insert ``n`` pending experiences in one transaction (fast, as an import does)."""
    CategoryStore(db).create(category, "Scale-out")
    rows = [
        new_row(
            "experience",
            {
                "category": category,
                "section": "useful",
                "title": f"heuristic {i}",
                "playbook": f"When job {i} fails, read its log from the bottom up.",
            },
            priority=PRIORITY_INTERACTIVE,
            entry_id=None,
        )
        for i in range(n)
    ]
    with db.write() as conn:
        conn.execute(insert(entries), rows)
    return [r["id"] for r in rows]


def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def status_counts(db_url: str) -> dict[str, int]:
    rows = query(db_url, "SELECT embedding_status, count(*) FROM entries GROUP BY 1")
    return {str(status): int(n) for status, n in rows}


def exactly_once_report(db_url: str) -> Counter[str]:
    """Facts that break if an entry was completed twice: attempts, vectors, upserts."""
    facts: Counter[str] = Counter()
    for (attempts,) in query(db_url, "SELECT attempts FROM entries"):
        facts[f"attempts={attempts}"] += 1
    for (n,) in query(db_url, "SELECT count(*) FROM vectors GROUP BY entry_id"):
        facts[f"vectors={n}"] += 1
    upserts = "SELECT count(*) FROM vector_changes WHERE op = 'upsert' GROUP BY entry_id"
    for (n,) in query(db_url, upserts):
        facts[f"upserts={n}"] += 1
    return facts
