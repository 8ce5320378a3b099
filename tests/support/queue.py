"""Queue tests' parts: a worker built on the test's clock, and what the rows say."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from heurist.db.engine import Database
from heurist.db.schema import entries, vectors
from heurist.embedding.base import Embedder
from heurist.queue.worker import PoolSignals, Worker, WorkerConfig

CONFIG = WorkerConfig(
    batch_size=8,
    lease_seconds=5.0,
    heartbeat_interval=0.1,
    poll_interval=0.1,
    max_attempts=3,
    retry_base=0.01,
    retry_max=0.05,
    outage_base=0.02,
)


def make_worker(
    db: Database,
    embedder: Embedder,
    *,
    holder: str = "inst/boot/w0",
    clock: Callable[[], float] = time.time,
    **cfg: Any,
) -> Worker:
    """One worker outside a pool, on ``clock`` (a FakeClock for anything that expires),
    with CONFIG changed by ``cfg``."""
    config = dataclasses.replace(CONFIG, **cfg)
    return Worker(db, embedder, holder=holder, config=config, signals=PoolSignals(clock=clock))


def drain(worker: Worker, rounds: int = 100) -> None:
    """Run the worker until it finds nothing to do."""
    for _ in range(rounds):
        if not worker.run_once():
            return


def rows(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        return {r.id: r for r in conn.execute(select(entries)).all()}


def vector_counts(db: Database) -> Counter[str]:
    with db.read() as conn:
        return Counter(conn.execute(select(vectors.c.entry_id)).scalars().all())
