"""Long documents searchable by meaning: heurist beside the bare model library, one run.

Run: .venv/bin/python bench/ingest_speed.py [--limit N] [--variant NAME:K=V,K=V ...]
     [--no-chroma] [--no-write]

The same SciFact abstracts (title + text) and the same all-MiniLM-L6-v2, one system after the
other on one machine:

1. **heurist**: a real ``heurist serve`` (SQLite, 2 workers of one thread, the model loaded
   first); the clock runs from the start of ``heurist import FILE`` until the queue is drained
   and the index has applied every vector change. Ten seconds in, one interactive experience is
   written over HTTP and the time until it is ``embedded`` is recorded (priorities under a bulk
   ingest). Peak RSS is the server process's ``VmHWM``. Each ``--variant`` is another server
   with extra ``HEURIST_*`` settings (the per-lever table).
2. **bare sentence-transformers**: ``encode`` on the whole abstracts, batch 32,
   max_seq_length 256 (the tail of a long abstract is truncated), two torch threads.
3. **ONNX ceiling**: heurist's own embedder (same export, same session settings) called
   directly, in process, on exactly the chunks the first heurist run stored, in the same
   length-aware batches, two callers of one thread as the workers: what the queue cannot beat.
4. **Chroma** (embedded, HNSW), as ``bench/peer_chroma.py`` adds in bulk: ``collection.add`` in
   batches of 64 through sentence-transformers (two threads); skipped if chromadb is missing.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import scifact as sf
from common import MODEL_CACHE, Server, machine, table, write_section

THREADS = 2
ST_BATCH = 32
CHROMA_BATCH = 64
PROBE_AFTER_S = 10.0


def _peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (Linux ``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _left(client: httpx.Client, server: Server) -> tuple[int, int, int]:
    queue = client.get("/admin/queue/status", headers=server.admin).json()["queue"]
    index = client.get("/health").json()["index"]
    left = queue["pending"]["total"] + queue["processing"]["total"]
    return left, queue["embedded"]["total"], index["changes_behind"]


def heurist_run(docs: Sequence[sf.Doc], work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Import the abstracts into a fresh server, wait until all are searchable by meaning."""
    base = {
        "HEURIST_NUM_EMBEDDING_WORKERS": "2",
        "HEURIST_EMBEDDING_THREADS": "1",
        "HEURIST_MODEL_CACHE_DIR": str(MODEL_CACHE),
        # The other rows run at the bench's own priority; niced workers would lose the shared
        # cores to the other processes on the machine, which is not what is compared here.
        "HEURIST_WORKER_NICE": "0",
    }
    data = Path(tempfile.mkdtemp(dir=work))
    path = data / "scifact.jsonl"
    sf.write_import_file(docs, path)
    with Server(data, **(base | env)) as server, httpx.Client(base_url=server.url) as client:
        server.wait_model()
        client.post("/api/v1/categories", json={"code": "probe", "name": "Probe"})
        cli = [sys.executable, "-m", "heurist.cli.main", "import", str(path)]
        started = time.perf_counter()
        subprocess.run(cli, env=server.env | {"HEURIST_API_URL": server.url}, check=True)
        probe_lag = _probe_and_wait(client, server, started, len(docs))
        ready = time.perf_counter() - started
        assert server.proc is not None
        rss = _peak_rss_mb(server.proc.pid)
    with sqlite3.connect(data / "heurist.db") as conn:
        chunks = [
            r[0]
            for r in conn.execute(
                "SELECT chunk_text FROM vectors WHERE entry_id LIKE ? ORDER BY entry_id, chunk_index",
                (sf.ID_PREFIX + "%",),
            )
        ]
    return {"ready_s": ready, "rss_mb": rss, "chunks": chunks, "probe_s": probe_lag}


def _probe_and_wait(client: httpx.Client, server: Server, started: float, n: int) -> float:
    """Write one interactive experience mid-ingest; wait until everything is searchable.

    Returns the seconds the interactive write took to be embedded (nan if the ingest was
    over before the probe was due)."""
    probe_id: str | None = None
    probe_at = probe_lag = float("nan")
    while True:
        left, embedded, behind = _left(client, server)
        if probe_id is not None and probe_lag != probe_lag:  # nan: not embedded yet
            entry = client.get(f"/api/v1/experiences/{probe_id}").json()
            if entry.get("embedding_status") == "embedded":
                probe_lag = time.perf_counter() - probe_at
        done = left == 0 and behind == 0 and embedded >= n
        if done and (probe_id is None or probe_lag == probe_lag):
            return probe_lag
        if probe_id is None and time.perf_counter() - started >= PROBE_AFTER_S:
            body = {"category": "probe", "section": "useful", "title": "interactive"}
            body["playbook"] = "written mid-ingest, embedded before the bulk import"
            response = client.post("/api/v1/experiences", json=body)
            response.raise_for_status()
            probe_id, probe_at = response.json()["id"], time.perf_counter()
        time.sleep(0.25)


def bare_st(texts: Sequence[str]) -> float:
    """sentence-transformers ``encode`` on the whole texts (truncated at 256 tokens)."""
    import torch

    torch.set_num_threads(THREADS)
    model = sf.load_model()
    model.encode(["warm up"])  # type: ignore[attr-defined]
    started = time.perf_counter()
    model.encode(list(texts), batch_size=ST_BATCH, show_progress_bar=False)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def onnx_ceiling(chunks: Sequence[str]) -> float:
    """heurist's embedder, in process, on the stored chunks, as the workers run it: the
    workers' batches, two callers of one intra-op thread each (two threads in one call lose
    badly to spinning on a loaded machine), no queue, no database."""
    import threading

    from heurist.embedding.factory import build_embedder
    from heurist.settings import Settings

    settings = Settings(embedding_threads=1, model_cache_dir=MODEL_CACHE)
    embedder = build_embedder(settings)
    embedder.load()
    embedder.embed(["warm up"])
    batches = _model_batches(embedder, settings, list(chunks))

    def caller(first: int) -> None:
        for batch in batches[first::THREADS]:
            embedder.embed(batch)

    started = time.perf_counter()
    callers = [threading.Thread(target=caller, args=(k,)) for k in range(THREADS)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    return time.perf_counter() - started


def _model_batches(embedder: Any, settings: Any, chunks: list[str]) -> list[list[str]]:
    """The workers' model batches (length-sorted, cut by the token budget) when the batching
    module exists, else batches of ``worker_batch_size``."""
    try:
        from heurist.queue.batching import plan_batches, token_lengths
    except ImportError:
        size = settings.worker_batch_size
        return [chunks[i : i + size] for i in range(0, len(chunks), size)]
    plans = plan_batches(token_lengths(embedder, chunks), settings.worker_batch_tokens)
    return [[chunks[i] for i in plan] for plan in plans]


def chroma(docs: Sequence[sf.Doc]) -> float | None:
    """Chroma's bulk ``add`` with sentence-transformers inside; None if chromadb is missing."""
    try:
        import chromadb
        from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    except ImportError:
        sf.progress("chromadb is not installed (make bench-deps): Chroma skipped")
        return None
    import torch

    torch.set_num_threads(THREADS)
    model = sf.load_model()

    class MiniLM(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:  # Chroma calls it by this name
            vecs = model.encode(list(input), normalize_embeddings=True)  # type: ignore[attr-defined]
            return [np.asarray(v, dtype=np.float32) for v in vecs]

    model.encode(["warm up"])  # type: ignore[attr-defined]
    texts = sf.doc_texts(docs)
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(
            path=tmp, settings=chromadb.Settings(anonymized_telemetry=False)
        )
        col = client.create_collection(
            "scifact", embedding_function=MiniLM(), metadata={"hnsw:space": "cosine"}
        )
        started = time.perf_counter()
        for start in range(0, len(docs), CHROMA_BATCH):
            end = min(len(docs), start + CHROMA_BATCH)
            col.add(ids=[d.doc_id for d in docs[start:end]], documents=texts[start:end])
        return time.perf_counter() - started


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    name, _, pairs = spec.partition(":")
    env = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    # PYTHONPATH=<a checkout>/src runs that checkout's heurist (the code before a change).
    keep = ("HEURIST_", "PYTHONPATH")
    return name, {k if k.startswith(keep) else f"HEURIST_{k}": v for k, v in env.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N abstracts")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="another heurist run, NAME:KEY=VALUE,... (HEURIST_ prefix optional)",
    )
    parser.add_argument("--no-chroma", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args()
    docs = sf.load_corpus()[: args.limit]
    texts = sf.doc_texts(docs)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("heurist (defaults)", {})] + [parse_variant(v) for v in args.variant]
        chunks: list[str] = []
        for name, env in runs:
            sf.progress(f"heurist: {name} {env or ''}")
            result = heurist_run(docs, Path(tmp), env)
            chunks = chunks or result["chunks"]
            rows.append({"name": name, "texts": len(result["chunks"])} | result)
    sf.progress("bare sentence-transformers")
    st_s = bare_st(texts)
    rows.append({"name": "bare sentence-transformers encode", "texts": len(texts), "ready_s": st_s})
    sf.progress("ONNX ceiling")
    ceiling = onnx_ceiling(chunks)
    rows.append({"name": "ONNX model direct (ceiling)", "texts": len(chunks), "ready_s": ceiling})
    if not args.no_chroma:
        sf.progress("Chroma")
        chroma_s = chroma(docs)
        if chroma_s is not None:
            rows.append({"name": "Chroma (embedded)", "texts": len(texts), "ready_s": chroma_s})
    body = report(rows, st_s)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(body)
    print(f"load average at the end: {load}")
    if not args.no_write:
        write_section("ingest_speed", render(body, args, len(docs), load))


def report(rows: Sequence[dict[str, Any]], st_s: float) -> str:
    out = []
    for r in rows:
        rss = f"{r['rss_mb']:.0f}" if "rss_mb" in r else "-"
        probe = r.get("probe_s")
        probe_txt = "-" if probe is None or probe != probe else f"{probe:.1f}"
        out.append(
            [
                r["name"],
                f"{r['texts']:,}",
                f"{r['ready_s']:.1f}",
                f"{r['ready_s'] / st_s:.2f}x",
                rss,
                probe_txt,
            ]
        )
    headers = [
        "system",
        "texts embedded",
        "s until searchable",
        "vs bare encode",
        "peak RSS MB",
        "interactive write embedded after s",
    ]
    return table(headers, out)


def render(body: str, args: argparse.Namespace, n: int, load: str) -> str:
    variants = "".join(f" --variant '{v}'" for v in args.variant)
    limit = f" --limit {args.limit}" if args.limit else ""
    return f"""## Ingest speed on long documents (`bench/ingest_speed.py`)

`.venv/bin/python bench/ingest_speed.py{limit}{variants}`: {n:,} SciFact abstracts
(title + text), all-MiniLM-L6-v2, one system after the other in one run. heurist: `heurist
import FILE` into a real `heurist serve` (SQLite, 2 workers of one thread), timed until the
queue is drained and the index has applied every vector; peak RSS is the server's `VmHWM`; one
interactive write is made 10 s into the ingest. Bare sentence-transformers: `encode` on the whole
abstracts (batch 32, max_seq_length 256, 2 threads). ONNX ceiling: heurist's embedder called
directly on the chunks heurist stored (the workers' batches, 2 callers of 1 thread). Chroma: `add` in batches
of 64. Machine: {machine()}; load average at the end {load} (other helpers share the cores).

{body}
"""


if __name__ == "__main__":
    main()
