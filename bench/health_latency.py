"""Measure GET /health and GET /metrics on a database with many entries and vectors.

Run: .venv/bin/python bench/health_latency.py [--n 50000] [--requests 300]
     [--postgres postgresql://postgres@127.0.0.1:5432/test]

Rows are inserted directly (a tenth pending, one in 50 processing, one in 997
failed, the rest embedded with one vector each) into a SQLite file and, with --postgres, into a fresh
PostgreSQL database made through that admin URL; then a real ``heurist serve``
(no workers, hash embedder) answers over HTTP on loopback, so the numbers include
the round trip. Goal: /health in a few milliseconds whatever the table size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import insert

from common import Server, machine, percentiles, table, write_section
from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.db.schema import categories, entries, vectors
from heurist.store.entries import new_row

PG_DB = "heurist_bench_health"


def rows(n: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    now = time.time()
    out, vecs = [], []
    for i in range(n):
        fields = {"category": "bench", "section": "useful", "title": f"t{i}", "playbook": "p"}
        row = new_row("experience", fields, priority=0, entry_id=None)
        status = "pending" if i % 10 == 0 else "processing" if i % 50 == 1 else "embedded"
        status = "failed" if i % 997 == 2 else status
        row["embedding_status"] = status
        out.append(row)
        if status == "embedded":
            vecs.append({"entry_id": row["id"], "chunk_index": 0, "revision": 1,
                         "model": "hash-64", "dim": 64, "vector": b"\0" * 256,
                         "chunk_text": "t", "updated_at": now})  # fmt: skip
    return out, vecs


def populate(url: str, n: int) -> None:
    db = Database(url)
    upgrade(db)
    now = time.time()
    entry_rows, vector_rows = rows(n)
    with db.write() as conn:
        conn.execute(insert(categories), [{"code": "bench", "name": "b", "description": "",
                                           "created_at": now, "updated_at": now}])  # fmt: skip
        conn.execute(insert(entries), entry_rows)
        conn.execute(insert(vectors), vector_rows)
    if not db.is_sqlite:
        # What autovacuum does soon after a bulk load: statistics and the visibility map.
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    db.dispose()


def timed(url: str, path: str, requests: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url) as client:
        for _ in range(10):
            client.get(path)  # warm connections and caches
        for _ in range(requests):
            started = time.perf_counter()
            client.get(path).raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
    return out


def measure(label: str, url: str, n: int, requests: int) -> list[list[object]]:
    populate(url, n)
    result = []
    with tempfile.TemporaryDirectory() as tmp, Server(
        Path(tmp), HEURIST_DATABASE_URL=url, HEURIST_EMBEDDING_PROVIDER="hash",
        HEURIST_NUM_EMBEDDING_WORKERS="0",
    ) as server:  # fmt: skip
        for path in ("/health", "/metrics"):
            p = percentiles(timed(server.url, path, requests))
            result.append([label, path, n] + [f"{p[k]:.2f}" for k in ("p50", "p95", "p99", "max")])
            print(result[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres", default=None, help="admin URL; a fresh database is made")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        found = measure("SQLite file", f"sqlite:///{Path(tmp) / 'h.db'}", args.n, args.requests)
    if args.postgres:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        try:
            url = args.postgres.rsplit("/", 1)[0] + f"/{PG_DB}"
            found += measure("PostgreSQL 127.0.0.1", url, args.n, args.requests)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    write_section("health_latency", report(args, found))


def report(args: argparse.Namespace, found: list[list[object]]) -> str:
    return f"""## Health and metrics latency (`bench/health_latency.py`)

`.venv/bin/python bench/health_latency.py --n {args.n} --requests {args.requests} --postgres
URL`: {args.n:,} entries inserted directly (a tenth pending, 1 in 50 processing, 1 in 997
failed, the rest embedded with one vector each), then {args.requests} sequential GETs over HTTP on
loopback to a real `heurist serve` (no workers). Machine: {machine()}, other test suites running
on the same cores. Goal: `/health` in a few milliseconds whatever the table size.

{table(["store", "path", "entries", "p50 ms", "p95 ms", "p99 ms", "max ms"], found)}

`/health` reads only what an index answers (the depth of pending, processing and failed; the
oldest pending; the pause row; the last vector change number) in one read transaction.
`/metrics` counts every row by status and kind at scrape time, so it grows with the table.
"""


if __name__ == "__main__":
    main()
