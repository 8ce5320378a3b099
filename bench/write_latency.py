"""1,000 sequential writes over HTTP: p50/p95/p99, with and without embedding running.

Run: .venv/bin/python bench/write_latency.py [--n 1000]

Two real servers (subprocesses, SQLite in a temp dir, the real model), side by side
in one run: one with no embedding workers (the write path alone), one with the
default two workers embedding every write as it lands.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from common import Server, machine, percentiles, table, write_section


def run(n: int, workers: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(Path(tmp), HEURIST_NUM_EMBEDDING_WORKERS=str(workers)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        server.wait_model()
        client.post("/api/v1/categories", json={"code": "bench", "name": "Bench"})
        for i in range(20):  # warm the connection and the code paths
            client.post("/api/v1/experiences", json=body(-i))
        times = []
        for i in range(n):
            start = time.perf_counter()
            response = client.post("/api/v1/experiences", json=body(i))
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 201 and response.json()["embedding_status"] == "pending"
        return percentiles(times)


def body(i: int) -> dict[str, str]:
    return {
        "category": "bench",
        "section": "useful",
        "title": f"Heuristic {i}",
        "playbook": f"When step {i} fails, read the first error, not the last; "
        "fix it, rerun, and record what worked for the next person.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    results = {}
    for label, workers in (("write path alone (0 workers)", 0), ("while embedding (2 workers)", 2)):
        results[label] = stats = run(args.n, workers)
        rows.append([label, args.n] + [f"{stats[k]:.2f}" for k in ("p50", "p95", "p99", "max")])
    alone, busy = results.values()
    out = table(["server", "writes", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    print(out)
    ratio = busy["p95"] / alone["p95"]
    print(f"p95 ratio (embedding / alone): {ratio:.2f}")
    write_section(
        "write_latency",
        f"""
## Write latency (`bench/write_latency.py`)

`.venv/bin/python bench/write_latency.py --n {args.n}`: {args.n} sequential `POST /api/v1/experiences`
over HTTP (one keep-alive client) to a real `heurist serve` on SQLite (WAL, synchronous=FULL),
two servers side by side in one run. Machine: {machine()}. Goal: p95 < 10 ms.

{out}

p95 while embedding / p95 alone: {ratio:.2f}.
""",
    )


if __name__ == "__main__":
    main()
