"""Is a faster runtime faithful to the reference model? Measured, not assumed.

A runtime (an ONNX export, a quantized model) is accepted only if, on a fixed set of
varied texts, every vector it gives has cosine >= ``min_cosine`` with the reference's
vector for the same text. Vectors from both would then share one index and one
``model_id``, so "close enough on average" is not the bar: the worst text is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heurist.embedding.base import Embedder
from heurist.embedding.errors import FidelityError

DEFAULT_MIN_COSINE = 0.999

_SHORT_TEXTS = (
    "how to fix a flaky test",
    "flaky tests retry",
    "bake bread",
    "SQLite database is locked when two workers write at once",
    "Use FOR UPDATE SKIP LOCKED to claim jobs from a PostgreSQL queue without double work.",
    "def add(a: int, b: int) -> int:\n    return a + b",
    "git rebase --onto main feature~3 feature",
    "ImportError: cannot import name 'Embedder' from partially initialized module",
    "Das Modell läuft auf der CPU und braucht keine Grafikkarte.",
    "La file d'attente réessaie avec un délai exponentiel et de la gigue.",
    "日本語のテキストも埋め込みできますか？",
    "🙂 emoji, punctuation!!! and    irregular   spacing ...",
    "x",
    "404",
    "HTTP 503 Service Unavailable: Retry-After: 2",
    "SELECT id FROM entries WHERE status = 'pending' ORDER BY priority LIMIT 16;",
    "The quick brown fox jumps over the lazy dog.",
    "kubectl rollout restart deployment/api -n production",
    "numpy float32 arrays must be L2-normalized before the inner product index",
    "A lease renewed only between batches lets a long batch run twice.",
    "pip install torch==2.13.0 --index-url is not needed on this machine",
    "Memory leak in the worker after 10k embeddings; fixed by reusing the tokenizer.",
)

_SENTENCES = (
    "The embedding worker claims a batch of pending rows in one atomic statement.",
    "It reads the text outside any write transaction and calls the model once per batch.",
    "When the provider is down, the whole pool backs off instead of burning attempts.",
    "Every vector records the model that produced it, so a model change re-queues entries.",
    "Poison entries are isolated by splitting the failing batch until one row remains.",
    "Heartbeats extend the lease from a thread the model call cannot block.",
    "A drain waits for pending and processing rows, and failed rows do not count.",
    "Imports pause the queue under a lease that lapses if the importer dies.",
    "Search combines keyword results with nearest neighbours from the vector index.",
    "Manuals are chunked to about two hundred words because the model stops at 256 tokens.",
    "Retries use exponential backoff with jitter and honour the Retry-After header.",
    "Shutdown stops claiming, finishes or releases what is held, and joins with a timeout.",
)


def _long_text(start: int, words: int = 250) -> str:
    """A deterministic ~``words``-word paragraph, so truncation at 256 tokens is exercised."""
    out: list[str] = []
    index = start
    while len(out) < words:
        out.extend(_SENTENCES[index % len(_SENTENCES)].split())
        index += 5
    return " ".join(out[:words])


FIXED_TEXTS: tuple[str, ...] = (
    *_SHORT_TEXTS,
    *(
        _long_text(start, words)
        for start, words in enumerate((250, 250, 250, 120, 60, 300, 40, 200))
    ),
)


def cosines(candidate: Embedder, reference: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Per-text cosine between the two embedders' (normalized) vectors."""
    if candidate.dim != reference.dim:
        raise FidelityError(
            f"{candidate!r} gives {candidate.dim}-d vectors, {reference!r} {reference.dim}-d"
        )
    got, want = [], []
    for start in range(0, len(texts), 16):  # batches like the queue's, bounded memory
        batch = list(texts[start : start + 16])
        got.append(candidate.embed(batch))
        want.append(reference.embed(batch))
    return np.einsum("ij,ij->i", np.concatenate(got), np.concatenate(want))


def check_fidelity(
    candidate: Embedder,
    reference: Embedder,
    texts: Sequence[str] = FIXED_TEXTS,
    min_cosine: float = DEFAULT_MIN_COSINE,
) -> float:
    """Return the minimum cosine over ``texts``; raise FidelityError if below ``min_cosine``."""
    if not texts:
        raise ValueError("check_fidelity needs at least one text")
    values = cosines(candidate, reference, texts)
    worst_index = int(np.argmin(values))
    worst = float(values[worst_index])
    if worst < min_cosine:
        raise FidelityError(
            f"{candidate!r} is not faithful to {reference!r}: minimum cosine {worst:.6f} "
            f"< {min_cosine} (text {worst_index}: {texts[worst_index][:60]!r})",
            details={"min_cosine": worst, "index": worst_index, "threshold": min_cosine},
        )
    return worst
