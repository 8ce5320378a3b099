"""Measure a bulk import: 20,000 experiences read, validated and written in one transaction.

Run: .venv/bin/python bench/import_speed.py [--n 20000] [--database-url URL] [--runs 3]

With no --database-url the store is a fresh SQLite file in a temporary directory. A
PostgreSQL URL must name an empty, migrated-or-empty database (it is migrated here).
Each run imports into an empty store ("insert"), then imports the same file again
("upsert": every row updated and re-queued). No server runs: the write goes straight to
the database, as ``heurist import`` does when none is found.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete

from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.db.schema import categories, entries
from heurist.transfer.importer import write_plan
from heurist.transfer.service import validate_file


def generate(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"kind": "category", "code": "bench", "name": "Bench"}) + "\n")
        for i in range(n):
            record = {
                "kind": "experience",
                "id": f"bench-{i:07d}",
                "category": "bench",
                "section": ("useful", "harmful", "contextual")[i % 3],
                "title": f"Retry number {i} with exponential backoff and jitter",
                "playbook": (
                    f"When call {i} to the provider fails with a timeout, retry with exponential "
                    "backoff and full jitter, cap the delay, and record the cause so that an "
                    "outage does not burn every attempt of every row."
                ),
                "context": "HTTP clients of flaky providers" if i % 3 == 2 else None,
                "author": "bench",
                "source": f"https://example.org/h/{i}",
            }
            handle.write(json.dumps(record) + "\n")


def run_once(db: Database, path: Path) -> tuple[float, float, float]:
    started = time.perf_counter()
    plan = validate_file(db, path, mode="upsert")
    validated = time.perf_counter()
    write_plan(db, plan, mode="upsert")
    inserted = time.perf_counter()
    write_plan(db, validate_file(db, path, mode="upsert"), mode="upsert")
    upserted = time.perf_counter() - inserted
    return validated - started, inserted - validated, upserted


def empty(db: Database) -> None:
    with db.write() as conn:
        conn.execute(delete(entries))
        conn.execute(delete(categories))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "import.jsonl"
        generate(path, args.n)
        db = Database(args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(db)
        print(f"{db.dialect}, {args.n} experiences, {path.stat().st_size / 1e6:.1f} MB JSONL")
        print("| run | read + validate (s) | write, empty store (s) | total (s) | re-import (s) |")
        print("|---|---|---|---|---|")
        for run in range(1, args.runs + 1):
            empty(db)
            validate_s, write_s, upsert_s = run_once(db, path)
            total = validate_s + write_s
            print(f"| {run} | {validate_s:.2f} | {write_s:.2f} | {total:.2f} | {upsert_s:.2f} |")
        empty(db)
        db.dispose()


if __name__ == "__main__":
    main()
