"""The local model's runtimes side by side: load time, texts/s by batch size, one-query latency,
and how faithful each is to sentence-transformers.

Run: .venv/bin/python bench/embedders.py [--n 320] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from common import machine, percentiles, table, word_texts, write_section
from heurist.embedding.factory import build_embedder
from heurist.embedding.fidelity import FIXED_TEXTS, check_fidelity
from heurist.settings import Settings


def measure(runtime: str, data_dir: Path, threads: int, corpus: list[str]) -> dict[str, float]:
    embedder = build_embedder(
        Settings(data_dir=data_dir, embedding_runtime=runtime, embedding_threads=threads)
    )
    start = time.perf_counter()
    embedder.load()
    out = {"load_s": time.perf_counter() - start}
    for batch in (1, 16, 64):
        embedder.embed(corpus[:batch])
        t0 = time.perf_counter()
        for i in range(0, len(corpus), batch):
            embedder.embed(corpus[i : i + batch])
        out[f"b{batch}"] = len(corpus) / (time.perf_counter() - t0)
    one = []
    for text in corpus[:100]:
        t0 = time.perf_counter()
        embedder.embed([text[:80]])
        one.append((time.perf_counter() - t0) * 1000)
    out["query_p50"] = percentiles(one)["p50"]
    out["query_p95"] = percentiles(one)["p95"]
    out["embedder"] = embedder  # type: ignore[assignment]
    return out


def concurrent_callers(data_dir: Path, corpus: list[str], callers: int) -> float:
    """texts/s of ONNX at batch 16 with ``callers`` threads of one intra-op thread each:
    how the worker pool runs it (heurist.runtime.worker_embedding_settings)."""
    embedder = build_embedder(
        Settings(data_dir=data_dir, embedding_runtime="onnx", embedding_threads=1)
    )
    embedder.embed(corpus[:16])

    def run(part: list[str]) -> None:
        for i in range(0, len(part), 16):
            embedder.embed(part[i : i + 16])

    threads = [threading.Thread(target=run, args=(corpus[k::callers],)) for k in range(callers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(corpus) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    corpus = word_texts(args.n, 40, seed=3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # torch first, in a fresh process: its load includes importing torch. The ONNX
        # export (first start only) runs next, off the clock; then the ONNX load is timed.
        results = {"torch": measure("torch", Path(tmp), args.threads, corpus)}
        build_embedder(Settings(data_dir=Path(tmp), embedding_runtime="onnx")).load()
        results["onnx"] = measure("onnx", Path(tmp), args.threads, corpus)
        fidelity = check_fidelity(results["onnx"]["embedder"], results["torch"]["embedder"])  # type: ignore[arg-type]
        concurrent = concurrent_callers(Path(tmp), corpus, callers=args.threads)
    for name, r in results.items():
        rows.append(
            [
                name,
                f"{r['load_s']:.2f}",
                f"{r['b1']:.0f}",
                f"{r['b16']:.0f}",
                f"{r['b64']:.0f}",
                f"{r['query_p50']:.1f}",
                f"{r['query_p95']:.1f}",
                "reference" if name == "torch" else f"{fidelity:.6f}",
            ]
        )
    out = table(
        [
            "runtime",
            "load s",
            "texts/s b1",
            "texts/s b16",
            "texts/s b64",
            "query p50 ms",
            "query p95 ms",
            "min cosine vs torch",
        ],
        rows,
    )
    print(out)
    ratio = results["onnx"]["b16"] / results["torch"]["b16"]
    parallel = (
        f"ONNX with {args.threads} concurrent callers of one intra-op thread each, batch 16: "
        f"{concurrent:.0f} texts/s, {concurrent / results['onnx']['b16']:.2f}x one caller on "
        f"{args.threads} threads. The worker pool runs it that way."
    )
    print(parallel)
    write_section(
        "embedders",
        f"""
## The local model's runtimes (`bench/embedders.py`)

`.venv/bin/python bench/embedders.py --n {args.n} --threads {args.threads}`: all-MiniLM-L6-v2 on
{args.n} texts of 40 words, {args.threads} threads, in one process, one runtime after the other;
"query" is one short text at a time (what a search pays on a cache miss). The ONNX export is
checked against sentence-transformers on {len(FIXED_TEXTS)} fixed texts (1 to 300 words) and
refused below cosine 0.999. Machine: {machine()}.

{out}

ONNX / torch at batch 16: {ratio:.2f}x. {parallel}
""",
    )


if __name__ == "__main__":
    main()
