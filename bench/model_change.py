"""Measure a change of embedding model and a restore that carries its vectors (issue 15).

Run: .venv/bin/python bench/model_change.py [--n 1500] [--queries 200] [--write]

1. A store of N manuals (about 250 words, two chunks each) embedded with the hash embedder
   is started with the local model (all-MiniLM-L6-v2, ONNX, 2 workers). Search keeps serving
   the hash model while the queue back-fills the local one; measured: the time until the
   switch, and hybrid-search latency (in process, one client thread, no HTTP) before the
   change and during it. Goal: p95 during within 1.5x of before.
2. The store, now serving the local model, is exported with ``--with-vectors`` and
   imported into a fresh store serving the same model; measured: the time until all N are
   searchable by meaning (import + the index sync), and the same for a re-import of the
   same file into that store, against the time it took the local model to embed them
   (the back-fill in step 1). Goal: under 10 %. The model calls of the restore are counted.

``--write`` puts the tables into docs/benchmarks.md (section ``model_change``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORDS, machine, percentiles, table, write_section
from heurist.embedding.hashing import HashEmbedder
from heurist.runtime import Runtime
from heurist.search.keyword import Filters
from heurist.settings import Settings
from heurist.transfer.service import export_file, import_plan, validate_file

MODEL_CACHE = Path(tempfile.gettempdir()) / "heurist-test-model-cache"


def manual(i: int, rng: np.random.Generator) -> dict[str, Any]:
    paragraphs = [" ".join(rng.choice(WORDS, size=60)) + "." for _ in range(4)]
    return {"category": "bench", "title": f"Runbook {i}: " + " ".join(rng.choice(WORDS, 4)),
            "content": "\n\n".join(paragraphs)}  # fmt: skip


def settings(data: Path, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data,
        "database_url": f"sqlite:///{data / 'heurist.db'}",
        "model_cache_dir": MODEL_CACHE,
        "num_embedding_workers": 2,
        "admin_token": "bench",
        "api_url": "http://127.0.0.1:9",  # no server: imports write directly
        "log_level": "WARNING",
    }
    return Settings(**(values | over))


def wait(predicate: Any, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def in_flight(rt: Runtime) -> int:
    counts = rt.queue.counts()
    return int(counts["pending"]["total"] + counts["processing"]["total"])


def search_ms(rt: Runtime, query: str) -> float:
    started = time.perf_counter()
    rt.search.search(query, mode="hybrid", filters=Filters(), limit=10)
    return (time.perf_counter() - started) * 1000


def queries(n: int) -> list[str]:
    rng = np.random.default_rng(3)
    return [" ".join(rng.choice(WORDS, size=5)) for _ in range(n)]


def migrate(
    data: Path, n: int, n_queries: int, workers: int, *, paired: bool, window: float = 2.0
) -> dict[str, Any]:
    hashed = HashEmbedder(384)
    first = Runtime.build(settings(data, embedding_provider="hash", embedding_dim=384),
                          embedder=hashed)  # fmt: skip
    first.start()
    first.categories.create("bench", "Bench")
    rng = np.random.default_rng(7)
    for i in range(n):
        first.entries.create("manual", manual(i, rng), entry_id=f"m-{i:05d}")
    wait(lambda: in_flight(first) == 0)
    chunks = len(first.index)
    first.stop()

    rt = Runtime.build(settings(data), extra_embedders=[hashed], workers=0)
    rt.start()  # no workers yet: the "before" latency, on the hash model
    wait(lambda: rt.serving.current.embedder.loaded)
    qs = queries(n_queries)
    for q in qs[:20]:
        search_ms(rt, q)
    before = [search_ms(rt, q) for q in qs]
    rt.stop()

    rt = Runtime.build(settings(data), extra_embedders=[hashed], workers=workers)
    started = time.perf_counter()
    rt.start()
    samples: dict[str, list[float]] = {"running": [], "paused": []}
    phase = ["running"]
    stop = threading.Event()

    def searcher() -> None:
        k = 0
        while not stop.is_set():
            took = search_ms(rt, qs[k % len(qs)])
            samples[phase[0]].append(took)
            k += 1

    thread = threading.Thread(target=searcher, daemon=True)
    thread.start()
    paused_s = 0.0
    while rt.serving.current.model == "hash-384":
        # Paired windows under the same machine load: the back-fill running, then paused
        # (its batches in hand finished first), so other load on the machine hits both alike.
        time.sleep(window)
        if not paired:
            continue
        rt.queue.pause()
        wait(lambda: rt.queue.counts()["processing"]["total"] == 0)
        pause_started = time.perf_counter()  # batches in hand finished: the back-fill stops
        phase[0] = "paused"
        time.sleep(window)
        phase[0] = "running"
        rt.queue.resume()
        paused_s += time.perf_counter() - pause_started
    switch_s = time.perf_counter() - started - paused_s
    stop.set()
    thread.join()
    rt.stop()
    return {"chunks": chunks, "switch_s": switch_s, "before": percentiles(before),
            "during": percentiles(samples["running"]),
            "paused": percentiles(samples["paused"]) if samples["paused"] else None,
            "searches_during": len(samples["running"])}  # fmt: skip


def restore(data: Path, fresh: Path, n: int) -> dict[str, Any]:
    rt = Runtime.build(settings(data), workers=0)
    rt.start()
    wait(lambda: rt.serving.current.embedder.loaded)  # the warm-up ends before the stop
    backup = data / "backup.jsonl"
    started = time.perf_counter()
    export_file(rt.db, backup, with_vectors=True)
    export_s = time.perf_counter() - started
    rt.stop()
    target = Runtime.build(settings(fresh), workers=0)  # nothing may embed: no model call
    target.start()
    wait(lambda: target.serving.current.embedder.loaded)
    times = []
    for _ in range(2):  # a restore into the fresh store, then a re-import of the same file
        started = time.perf_counter()
        plan = validate_file(target.db, backup, mode="upsert")
        restored = import_plan(target.settings, target.db, plan, mode="upsert").restored
        target.index_sync.sync()
        times.append(time.perf_counter() - started)
        assert restored == n and target.index.entry_count() == n, (restored, len(target.index))
        assert in_flight(target) == 0
    target.stop()
    return {"export_s": export_s, "restore_s": times[0], "reimport_s": times[1],
            "size_mb": backup.stat().st_size / 1e6}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--paired",
        action="store_true",
        help="alternate 2 s windows with the back-fill running and paused (for a shared machine)",
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data, fresh = Path(tmp) / "store", Path(tmp) / "fresh"
        m = migrate(data, args.n, args.queries, args.workers, paired=args.paired)
        r = restore(data, fresh, args.n)
    load_after = os.getloadavg()[0]
    before, during, paused = m["before"], m["during"], m["paused"]
    headers = ["manuals (chunks)", "time to switch (s)", "search p50 / p95 before (ms)",
               "p50 / p95 during (ms)", "p95 during / before"]  # fmt: skip
    row = [f"{args.n} ({m['chunks']})", f"{m['switch_s']:.1f}",
           f"{before['p50']:.1f} / {before['p95']:.1f}", f"{during['p50']:.1f} / {during['p95']:.1f}",
           f"{during['p95'] / before['p95']:.2f}x"]  # fmt: skip
    if paused is not None:
        headers += ["p50 / p95 back-fill paused (ms)", "p95 during / paused"]
        row += [
            f"{paused['p50']:.1f} / {paused['p95']:.1f}",
            f"{during['p95'] / paused['p95']:.2f}x",
        ]
    first = table([*headers, "searches during"], [[*row, m["searches_during"]]])
    second = table(
        ["manuals", "backup (MB)", "embed time (s)", "restore until searchable (s)",
         "fraction", "re-import (s)", "fraction"],
        [[args.n, f"{r['size_mb']:.1f}", f"{m['switch_s']:.1f}", f"{r['restore_s']:.2f}",
          f"{r['restore_s'] / m['switch_s']:.1%}", f"{r['reimport_s']:.2f}",
          f"{r['reimport_s'] / m['switch_s']:.1%}"]],
    )  # fmt: skip
    print(f"load average {load_before:.1f} -> {load_after:.1f}")
    print(first, "\n")
    print(second)
    if args.write:
        body = (
            "## Model change and restore with vectors (`bench/model_change.py`)\n\n"
            f"`.venv/bin/python bench/model_change.py --n {args.n} --queries {args.queries} "
            f"--workers {args.workers}{' --paired' if args.paired else ''} --write` "
            f"({machine()}, load average {load_before:.1f} at the start and {load_after:.1f} "
            "at the end; SQLite; hash embedder (384 dims) -> local "
            "all-MiniLM-L6-v2 on ONNX, "
            f"{args.workers} workers; hybrid search in process, one client).\n\n"
            f"{first}\n\nThe embed time is the back-fill above (the local model embedding "
            "every chunk); the restore is `validate_file` + `import_plan` of the "
            f"`--with-vectors` JSONL and one index sync, with no model call.\n\n{second}\n"
        )
        write_section("model_change", body)


if __name__ == "__main__":
    main()
