"""The model's window in its own tokens, from the tokenizer shipped in the model folder.

Chunks are sized with it (``chunking.manual_chunks``) so each fits the window exactly,
and the workers sort and batch chunks by its lengths (``queue.batching``). Counting a
word costs a tokenizer call; SciFact's 5,183 abstracts hold ~50,000 distinct words, so
counts are remembered per word (a bounded cache, cleared when full).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heurist.embedding.chunking import TokenWindow

#: Distinct words remembered before the cache starts over (a few MB).
WORD_CACHE_SIZE = 200_000


class WordCounts:
    """Tokens per whitespace-separated word, by the model's tokenizer, remembered per word."""

    def __init__(self, tokenizer: Any, cache_size: int = WORD_CACHE_SIZE) -> None:
        self._tokenizer = tokenizer
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __call__(self, words: Sequence[str]) -> list[int]:
        with self._lock:  # the tokenizer is fast; two workers wait on it a few microseconds
            cache = self._cache
            missing = list(dict.fromkeys(w for w in words if w not in cache))
            if not missing:
                return [cache[w] for w in words]
            encodings = self._tokenizer.encode_batch(missing, add_special_tokens=False)
            found = {w: len(e.ids) for w, e in zip(missing, encodings, strict=True)}
            counts = [cache[w] if w in cache else found[w] for w in words]
            if len(cache) + len(found) > self._cache_size:
                cache.clear()
            cache.update(found)
            return counts


def tokenizer_window(tokenizer_path: Path, max_input_tokens: int) -> TokenWindow:
    """The window of a model whose fast tokenizer is ``tokenizer_path`` (tokenizer.json)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    special = len(tokenizer.encode("").ids)  # [CLS] and [SEP] for BERT
    return TokenWindow(
        weigh=WordCounts(tokenizer), max_tokens=max_input_tokens - special, special=special
    )
