"""The queue against the raw model, side by side in one run.

Run: .venv/bin/python bench/queue_throughput.py [--n 1000] [--configs 2x16,1x16,2x32]

1. Raw: the same embedder heurist uses, in this process, on the texts, batch 16.
2. Queue: a real `heurist serve` (SQLite, real model) per configuration (workers x batch);
   the texts are written over HTTP while the workers run; we measure the time from the
   first write until all are embedded, the write latency meanwhile, and each entry's
   write-to-embedded lag (embedded_at - queued_at, read from the database).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from common import MODEL_CACHE, Server, machine, percentiles, table, word_texts, write_section
from heurist.embedding.factory import build_embedder
from heurist.settings import Settings


def raw_throughput(corpus: list[str], batch: int, threads: int | None) -> float:
    embedder = build_embedder(Settings(embedding_threads=threads, model_cache_dir=MODEL_CACHE))
    embedder.load()
    embedder.embed(corpus[:batch])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(corpus), batch):
        embedder.embed(corpus[i : i + batch])
    return len(corpus) / (time.perf_counter() - start)


def queue_run(corpus: list[str], workers: int, batch: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(
            Path(tmp),
            HEURIST_NUM_EMBEDDING_WORKERS=str(workers),
            HEURIST_WORKER_BATCH_SIZE=str(batch),
        ) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        server.wait_model()
        client.post("/api/v1/categories", json={"code": "b", "name": "B"})
        start = time.perf_counter()
        writes = _write_all(client, corpus)
        _wait_drained(server)
        elapsed = time.perf_counter() - start
        lags = _lags(Path(tmp) / "heurist.db")
        backlog = _backlog(server, client, corpus)
    return {
        "backlog_per_s": len(corpus) / backlog,
        "texts_per_s": len(corpus) / elapsed,
        "elapsed": elapsed,
        "write_p95": percentiles(writes)["p95"],
        "lag_p50": percentiles(lags)["p50"],
        "lag_p95": percentiles(lags)["p95"],
    }


def _backlog(server: Server, client: httpx.Client, corpus: list[str]) -> float:
    """Seconds to embed the corpus written while paused: the queue alone, no writes racing."""
    httpx.post(f"{server.url}/admin/queue/pause", headers=server.admin).raise_for_status()
    _write_all(client, [f"again {t}" for t in corpus], first=len(corpus))
    start = time.perf_counter()
    httpx.post(f"{server.url}/admin/queue/resume", headers=server.admin).raise_for_status()
    _wait_drained(server)
    return time.perf_counter() - start


def _write_all(client: httpx.Client, corpus: list[str], first: int = 0) -> list[float]:
    times = []
    for i, text in enumerate(corpus, start=first):
        t0 = time.perf_counter()
        client.post(
            "/api/v1/experiences",
            json={
                "category": "b",
                "section": "useful",
                "title": f"h{i}",
                "playbook": text,
            },
        ).raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _wait_drained(server: Server) -> None:
    result = httpx.post(
        f"{server.url}/admin/queue/drain",
        params={"timeout": 600},
        headers=server.admin,
        timeout=700,
    ).json()
    assert result["status"] == "drained", result


def _lags(db_file: Path) -> list[float]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT (embedded_at - queued_at) * 1000 FROM entries").fetchall()
    return [r[0] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--configs", default="2x16,1x16,1x32,2x32")
    args = parser.parse_args()
    corpus = [f"Heuristic {i}: {t}" for i, t in enumerate(word_texts(args.n))]
    raw = raw_throughput(corpus, 16, None)
    print(f"raw model, batch 16: {raw:.1f} texts/s")
    rows = [["raw model (in process)", "-", "-", f"{raw:.1f}", "100%", "-", "-", "-", "-", "-"]]
    for config in args.configs.split(","):
        workers, batch = (int(x) for x in config.split("x"))
        r = queue_run(corpus, workers, batch)
        rows.append([
            "queue", workers, batch,
            f"{r['backlog_per_s']:.1f} ({100 * r['backlog_per_s'] / raw:.0f}%)",
            f"{r['texts_per_s']:.1f} ({100 * r['texts_per_s'] / raw:.0f}%)",
            f"{r['elapsed']:.1f}", f"{r['write_p95']:.2f}",
            f"{r['lag_p50']:.0f}", f"{r['lag_p95']:.0f}",
        ])  # fmt: skip
        print(rows[-1])
    headers = ["path", "workers", "batch", "backlog texts/s (of raw)",
               "live texts/s (of raw)", "live: all embedded s", "write p95 ms",
               "lag p50 ms", "lag p95 ms"]  # fmt: skip
    rows[0] = ["raw model (in process)", "-", "-", f"{raw:.1f} (100%)", "-", "-", "-", "-", "-"]
    out = table(headers, rows)
    print(out)
    write_section(
        "queue_throughput",
        f"""
## Queue throughput (`bench/queue_throughput.py`)

`.venv/bin/python bench/queue_throughput.py --n {args.n}`: {args.n} texts of ~40 words. The raw
model (same embedder, in process, batch 16) first, then a real `heurist serve` per configuration
(workers x batch). *Backlog*: the texts written while the queue is paused, then the time from
resume to a finished drain: the queue's own throughput. *Live*: the texts written over HTTP
(one client, sequential) while the workers run, timed from the first write to a finished drain,
so the writes' own CPU is inside it; write p95 is measured then, and lag is each entry's
`embedded_at - queued_at`.
Machine: {machine()}. Goals: queue >= 85 % of raw; write p95 < 10 ms while embedding.

{out}
""",
    )


if __name__ == "__main__":
    main()
