"""Interactive write latency while a large import is written, on SQLite and PostgreSQL.

Run: .venv/bin/python bench/import_beside_writes.py [--sizes 20000 100000] [--backends sqlite postgresql]

For each backend and size, a fresh store and a real ``heurist serve`` (subprocess; hash
embedder, one worker) take sequential ``POST /api/v1/experiences`` from one keep-alive
client, first with no import (the baseline), then while ``heurist import FILE`` (another subprocess, coordinated with the
server: drain, pause, write, release) writes N new experiences. The importer runs with
``HEURIST_IMPORT_CHECKPOINTS`` and is told to go on at once at each step: its checkpoints
mark the start and the end of its write (staging → settled), and only writes that started
in that window count. PostgreSQL: a fresh database on 127.0.0.1:5432, dropped afterwards.
Goal: p99 < 100 ms and max < 1 s during the import.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from common import TOKEN, Server, machine, percentiles, table, write_section

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BASELINE_WRITES = 300
PREFIX = "import checkpoint: "


def generate(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"kind": "category", "code": "bulk", "name": "Bulk"}) + "\n")
        for i in range(n):
            record = {
                "kind": "experience",
                "id": f"bulk-{i:07d}",
                "category": "bulk",
                "section": ("useful", "harmful")[i % 2],
                "title": f"Retry number {i} with exponential backoff and jitter",
                "playbook": f"When call {i} fails with a timeout, back off with full jitter, "
                "cap the delay, and record the cause.",
            }
            handle.write(json.dumps(record) + "\n")
    return path


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'heurist.db'}"
        return
    name = f"heurist_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Writer:
    """Sequential creates on one connection until stopped: (started at, ms) per write."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60)
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            body = {"category": "live", "section": "useful", "title": f"Live {i}", "playbook": "p"}
            start = time.perf_counter()
            try:
                status = self.client.post("/api/v1/experiences", json=body).status_code
            except httpx.TransportError:
                status = 0
            self.samples.append((start, (time.perf_counter() - start) * 1000))
            self.errors += status != 201
            i += 1

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


def run_import(server: Server, db_url: str, path: Path) -> tuple[float, float]:
    """Run ``heurist import`` to the end; answers its write window (perf_counter times)."""
    env = server.env | {
        "HEURIST_DATABASE_URL": db_url,
        "HEURIST_API_URL": server.url,
        "HEURIST_ADMIN_TOKEN": TOKEN,
        "HEURIST_IMPORT_CHECKPOINTS": "true",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "heurist.cli.main", "import", str(path)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stderr is not None
    began = ended = 0.0
    said: list[str] = []
    for line in proc.stderr:
        if not line.startswith(PREFIX):
            said.append(line)
            continue
        step = line[len(PREFIX) :].strip()
        if step == "staging":
            began = time.perf_counter()
        elif step == "settled":
            ended = time.perf_counter()
        proc.stdin.write("\n")
        proc.stdin.flush()
    if proc.wait() != 0 or not ended:
        raise RuntimeError(f"the import failed (exit {proc.returncode}): {''.join(said)[-2000:]}")
    return began, ended


def measure(backend: str, n: int, path: Path) -> list[list[object]]:
    """A fresh store and server: the baseline, then the same writes beside an import of n."""
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as db_url:
        env = {
            "HEURIST_DATABASE_URL": db_url,
            "HEURIST_EMBEDDING_PROVIDER": "hash",
            "HEURIST_NUM_EMBEDDING_WORKERS": "1",
        }
        with Server(Path(tmp), **env) as server:
            httpx.post(f"{server.url}/api/v1/categories", json={"code": "live", "name": "Live"})
            writer = Writer(server.url).start()
            while len(writer.samples) < BASELINE_WRITES:
                time.sleep(0.05)
            writer.stop()
            baseline = row(backend, "no import", [ms for _, ms in writer.samples], writer.errors)
            writer = Writer(server.url).start()
            began, ended = run_import(server, db_url, path)
            writer.stop()
        during = [ms for t, ms in writer.samples if began <= t <= ended]
        slowest = sorted(writer.samples, key=lambda s: -s[1])[:3]
        print(
            f"{backend} {n}: slowest writes (start after the write began, ms): "
            + ", ".join(f"{t - began:+.2f}s {ms:.0f}" for t, ms in slowest)
        )
        label = f"import of {n:,} rows ({ended - began:.1f} s write)"
        rows = [baseline, row(backend, label, during, writer.errors)]
        print(table(HEADERS, rows), flush=True)
        return rows


HEADERS = ["backend", "while", "writes", "p50 ms", "p99 ms", "max ms", "errors"]


def row(backend: str, label: str, ms: list[float], errors: int) -> list[object]:
    stats = percentiles(ms) if ms else dict.fromkeys(("p50", "p99", "max"), float("nan"))
    return [backend, label, len(ms)] + [f"{stats[k]:.1f}" for k in ("p50", "p99", "max")] + [errors]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--note", default="", help="said under the table (e.g. machine load)")
    args = parser.parse_args()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {n: generate(Path(tmp) / f"import-{n}.jsonl", n) for n in args.sizes}
        for backend in args.backends:
            for n in args.sizes:
                rows += measure(backend, n, files[n])
    out = table(HEADERS, rows)
    print(out)
    command = "python bench/import_beside_writes.py " + " ".join(
        ["--sizes", *map(str, args.sizes), "--backends", *args.backends]
    )
    write_section(
        "import_beside_writes",
        f"""
## Writes beside a large import (`bench/import_beside_writes.py`)

`.venv/bin/{command}`: sequential `POST /api/v1/experiences` (one keep-alive client) to a real
`heurist serve` (hash embedder, one worker; a fresh store for each size), with no import, then while `heurist import` writes
N new experiences into the same database, coordinated with the server (drain, pause, write,
release). Only writes that started inside the import's write count (first staged batch to the last batch that clears the import's marks after the
publish); the write time is in the row. The import stages its rows invisibly in batches of
100 rows (SQLite) or 500 (PostgreSQL), each its own transaction, publishes them all in one short transaction (a flag), then
clears their marks in batches. Machine: {machine()}.
Goal: p99 < 100 ms and max < 1 s during the import.

{out}

{args.note}
""",
    )


if __name__ == "__main__":
    main()
