"""Measure VectorIndex at scale: bulk add, filtered and unfiltered search, batched writes.

Run: .venv/bin/python bench/index_ops.py [--n 100000] [--dim 384] [--queries 200] [--threads N]

--threads sets VectorIndex(search_threads=N); 0 leaves FAISS's default (all cores).

Categories are drawn so one holds ~1% of the vectors and one ~50%. A filter is
cached until the index changes; "after a change" rows pay for rebuilding it,
which is what a search sees while the embedding workers are writing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from heurist.index.faiss_index import VectorIndex
from heurist.index.vectors import VectorRow


def normalized(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_items(vectors: np.ndarray, first_id: int, rng: np.random.Generator) -> list[VectorRow]:
    categories = rng.choice(["one-pct", "half", "rest"], size=len(vectors), p=[0.01, 0.5, 0.49])
    return [
        VectorRow(
            first_id + i, f"e{first_id + i}", 0, "experience", str(cat), "useful", "m", vector
        )
        for i, (vector, cat) in enumerate(zip(vectors, categories, strict=True))
    ]


def timed(
    action: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None
) -> list[float]:
    """Milliseconds per call; `setup` runs before each call, outside the timing."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def row(name: str, times: list[float]) -> None:
    p50, p95 = np.percentile(times, [50, 95])
    print(f"| {name:<46} | {p50:9.2f} | {p95:9.2f} | {len(times):5d} |")


def run(n: int, dim: int, queries: int, threads: int | None) -> None:
    rng = np.random.default_rng(0)
    items = make_items(normalized(rng, n, dim), 1, rng)
    query_vectors = normalized(rng, queries, dim)
    index = VectorIndex(dim, search_threads=threads)
    next_id = iter(range(2 * n, 3 * n))

    def touch() -> None:
        """Change the index (one new vector), which invalidates cached filters."""
        vid = next(next_id)
        index.upsert([VectorRow(vid, f"e{vid}", 0, "experience", "rest", None, query_vectors[0])])

    print(
        f"| {'operation (n=' + str(n) + ', dim=' + str(dim) + ')':<46} | {'p50 ms':>9} | "
        f"{'p95 ms':>9} | {'runs':>5} |"
    )
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 11}|{'-' * 7}|")
    row("bulk add (one upsert of all vectors)", timed(lambda: index.upsert(items), 1))
    q = iter(list(query_vectors) * 10)
    row("search top-10, unfiltered", timed(lambda: index.search(next(q), 10), queries))

    def filtered(category: str) -> Callable[[], object]:
        return lambda: index.search(next(q), 10, categories=[category])

    for label, category in (("1%", "one-pct"), ("50%", "half")):
        row(f"search top-10, category {label}, cached filter", timed(filtered(category), queries))
        row(
            f"search top-10, category {label}, after a change",
            timed(filtered(category), queries // 4, touch),
        )
    fresh = iter(range(3 * n, 4 * n, 16))
    row(
        "upsert 16 new vectors",
        timed(lambda: index.upsert(make_items(normalized(rng, 16, dim), next(fresh), rng)), 20),
    )
    old = iter(range(1, n, 16))
    row(
        "upsert 16 replacements (1 remove_ids)",
        timed(lambda: index.upsert(make_items(normalized(rng, 16, dim), next(old), rng)), 20),
    )
    start = iter(range(n // 2, n, 1000))
    row(
        "remove 1,000 ids (1 remove_ids)",
        timed(lambda: index.remove(range(s := next(start), s + 1000)), 5),
    )
    print(f"\nvectors: {len(index)}, search threads: {threads or 'faiss default'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="search threads (0: faiss default)")
    args = parser.parse_args()
    run(args.n, args.dim, args.queries, args.threads or None)


if __name__ == "__main__":
    main()
