"""Embedding throughput of 1 and 2 `heurist worker` processes, PostgreSQL against SQLite.

Run: .venv/bin/python bench/pg_throughput.py [--n 1000] [--processes 1,2]

Per backend and process count, a fresh database (a new PostgreSQL database on
127.0.0.1:5432, or a new SQLite file), and real `heurist worker --workers 1` processes
with the real model on one torch thread each (HEURIST_EMBEDDING_THREADS=1, batch 16).
Each process first embeds a warm-up batch (so the model load is not timed); then the
queue is paused, N texts are inserted, and the clock runs from the resume to the
moment every entry is `embedded`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import insert, text

from common import ROOT, TOKEN, machine, table, write_section
from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.db.schema import entries
from heurist.limits import PRIORITY_INTERACTIVE
from heurist.queue.control import QueueControl
from heurist.signals import Signal
from heurist.store.categories import CategoryStore
from heurist.store.entries import new_row
from queue_throughput import texts

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 16
WARMUP_PER_PROCESS = 2 * BATCH


def worker(db_url: str, tmp: Path, n: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / f"worker{n}.log"
    env = os.environ | {
        "HEURIST_DATABASE_URL": db_url,
        "HEURIST_DATA_DIR": str(tmp / "data"),
        "HEURIST_ADMIN_TOKEN": TOKEN,
        "HEURIST_EMBEDDING_THREADS": "1",
        "HEURIST_WORKER_BATCH_SIZE": str(BATCH),
        "HEURIST_WORKER_POLL_INTERVAL": "0.2",  # SQLite has no NOTIFY: keep its polls short
        "HEURIST_LOG_LEVEL": "INFO",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "heurist.cli.main", "worker", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    return proc, log


def insert_texts(db: Database, corpus: list[str], prefix: str) -> None:
    rows = [
        new_row(
            "experience",
            {"category": "b", "section": "useful", "title": f"{prefix}{i}", "playbook": t},
            priority=PRIORITY_INTERACTIVE,
            entry_id=None,
        )
        for i, t in enumerate(corpus)
    ]
    with db.write() as conn:
        conn.execute(insert(entries), rows)


def embedded(db: Database) -> int:
    with db.read() as conn:
        q = "SELECT count(*) FROM entries WHERE embedding_status = 'embedded'"
        return int(conn.execute(text(q)).scalar_one())


def wait_embedded(db: Database, target: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while embedded(db) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {embedded(db)} of {target} embedded")
        time.sleep(0.1)


def run(db_url: str, processes: int, corpus: list[str]) -> float:
    """Seconds from resume to all embedded, with ``processes`` warm worker processes."""
    db = Database(db_url)
    upgrade(db)
    CategoryStore(db).create("b", "Bench")
    control = QueueControl(db, Signal())
    warmup = WARMUP_PER_PROCESS * processes
    insert_texts(db, corpus[:warmup], "warm")
    with tempfile.TemporaryDirectory() as tmp:
        procs = [worker(db_url, Path(tmp), n) for n in range(processes)]
        try:
            wait_embedded(db, warmup)
            logs = [log.read_text() for _, log in procs]
            assert all("batch of" in log for log in logs), "a process skipped the warm-up"
            control.pause()
            insert_texts(db, corpus, "t")
            started = time.perf_counter()
            control.resume()
            if not db.is_sqlite:
                with db.write() as conn:  # what a resume on a server publishes
                    conn.execute(text("SELECT pg_notify('heurist_queue', 'bench')"))
            wait_embedded(db, warmup + len(corpus))
            return time.perf_counter() - started
        finally:
            for proc, _ in procs:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
            db.dispose()


def pg_database() -> tuple[str, str]:
    name = f"heurist_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def measure(backend: str, processes: int, corpus: list[str]) -> float:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return run(f"sqlite:///{Path(tmp) / 'bench.db'}", processes, corpus)
    name, url = pg_database()
    try:
        return run(url, processes, corpus)
    finally:
        drop_pg(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--rounds", type=int, default=1, help="best of this many runs each")
    args = parser.parse_args()
    corpus = texts(args.n)
    counts = [int(p) for p in args.processes.split(",")]
    best: dict[tuple[str, int], float] = {}
    # Interleaved, so a burst of load on the shared machine hits every configuration alike.
    for _ in range(args.rounds):
        for processes in counts:
            for backend in ("postgresql", "sqlite"):
                elapsed = measure(backend, processes, corpus)
                key = (backend, processes)
                best[key] = min(best.get(key, elapsed), elapsed)
                print(backend, processes, f"{elapsed:.1f}s", flush=True)
    rows = []
    for backend in ("postgresql", "sqlite"):
        base = args.n / best[(backend, counts[0])]
        for processes in counts:
            elapsed = best[(backend, processes)]
            rate = args.n / elapsed
            rows.append(
                [backend, processes, args.n, f"{elapsed:.1f}", f"{rate:.1f}", f"{rate / base:.2f}x"]
            )
    out = table(
        ["database", "worker processes", "texts", "all embedded s", "texts/s", "vs 1 process"],
        rows,
    )
    print(out)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    write_section(
        "pg_throughput",
        f"""
## Worker processes on PostgreSQL and SQLite (`bench/pg_throughput.py`)

`.venv/bin/python bench/pg_throughput.py --n {args.n} --rounds {args.rounds}`: {args.n} texts of ~40 words, embedded
by `heurist worker --workers 1` processes (real all-MiniLM-L6-v2, one torch thread each,
batch {BATCH}) on a fresh PostgreSQL database and on a fresh SQLite file, same run. Each
process embeds a warm-up batch first; the clock runs from the resume of a paused queue
holding the {args.n} entries to the last one `embedded`; best of {args.rounds} interleaved
round(s). Machine: {machine()}; load
average at the end {load} (other suites share the 2 cores).

{out}

Read it with the load in mind: each process is one torch thread, so two processes need two
free cores. On an idle 2-core machine two 1-thread processes embed ~135-140 texts/s against
~110 for one process of two threads (DESIGN §10); with other suites holding about a core, the
second process has nothing to run on and the pair does no better than one. The gap between the
PostgreSQL and SQLite rows is the database's share of the same cores (the PostgreSQL server
runs on this machine); a worker's own work besides the model (read the texts, write back
vectors and status) measured ~23 ms per batch of {BATCH} on PostgreSQL with the hash embedder
(median of 50 batches), against ~400 ms of model time per batch here. On a real deployment, give each worker process its own core.
""",
    )


if __name__ == "__main__":
    main()
