"""Model batches cut by a token budget, from the chunks of one claim.

A model call pads every text to the longest of its batch, so a batch of one 250-token
chunk and fifteen 40-token tails costs sixteen full windows. The worker therefore claims
rows as before (``worker_batch_size`` of them, leased and written back one by one), and
only the model calls change: the claim's chunks are sorted by their length in the model's
tokens, longest first, and cut into batches whose padded size (texts x longest) stays
within ``worker_batch_tokens``. Short chunks travel many to a call, long ones few, and the
arena of the runtime never sees a shape larger than the budget.

The vectors come back in the chunks' original order, so the write-back, the guard on
revision and holder, and the split of a failing claim (``Worker._split_or_fail``) are
exactly what they were: an exception of any model call fails the whole ``embed_batched``
call, as a single model call did.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heurist.embedding.base import Embedder

#: However short the texts, at most this many in one model call.
MAX_TEXTS = 256


def token_lengths(embedder: Embedder, texts: Sequence[str]) -> list[int]:
    """Each text's length in the model's tokens (special tokens included, capped at the
    window), or in words for an embedder that cannot count tokens."""
    window = embedder.window()
    if window is None:
        return [len(text.split()) for text in texts]
    return [min(window.count(text), window.max_tokens) + window.special for text in texts]


def plan_batches(
    lengths: Sequence[int], budget: int, max_texts: int = MAX_TEXTS
) -> list[list[int]]:
    """Indices into ``lengths``, longest first, cut so each batch pads to at most ``budget``
    tokens (count x longest) and holds at most ``max_texts``; a text longer than the budget
    goes alone, and a text less than half the batch's longest starts a new batch (no text
    is padded to more than twice its length, unless alone). Ties keep their order, so the
    plan is deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        full = (len(current) + 1) * longest > budget or len(current) >= max_texts
        if current and (full or 2 * lengths[index] < longest):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def embed_batched(embedder: Embedder, texts: Sequence[str], budget: int) -> np.ndarray:
    """Embed ``texts`` in length-sorted model calls of at most ``budget`` padded tokens;
    rows in the order of ``texts``. Any model call's exception propagates."""
    if not texts:
        return embedder.embed([])
    plans = plan_batches(token_lengths(embedder, texts), budget)
    out: np.ndarray | None = None
    for plan in plans:
        part = embedder.embed([texts[i] for i in plan])
        if out is None:
            out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
        out[plan] = part
    assert out is not None
    return out
