"""A deterministic, instant embedder for tests of everything around the model.

Feature hashing of lowercase word tokens with a signed blake2b bucket: stable across
processes and Python versions (unlike ``hash()``), and texts sharing words come out
closer than texts that share none, which is all the queue and index tests need.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from heurist.embedding.base import Embedder
from heurist.settings import Settings

_WORD = re.compile(r"\w+")


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "big")
    sign = 1.0 if digest & 1 else -1.0
    return (digest >> 1) % dim, sign


class HashEmbedder(Embedder):
    """Feature-hashing embedder; ``model_id`` is ``hash-{dim}``."""

    serialize_calls = False

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        if dim < 2:
            raise ValueError("dim must be at least 2")
        self.dim = dim
        self.model_id = f"hash-{dim}"
        self.max_input_tokens = 256

    @classmethod
    def from_settings(cls, settings: Settings) -> HashEmbedder:
        return cls(dim=settings.embedding_dim or 64)

    def _load(self) -> None:
        """Nothing to load."""

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(text) for text in texts])

    def _vector(self, text: str) -> np.ndarray:
        # A text of punctuation only still gets a vector: hash the whole stripped text.
        tokens = _WORD.findall(text.lower()) or [text.strip()]
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in tokens:
            index, sign = _bucket(token, self.dim)
            vector[index] += sign
        if not vector.any():  # every token cancelled out: fall back to one bucket
            index, _ = _bucket(text, self.dim)
            vector[index] = 1.0
        return vector
