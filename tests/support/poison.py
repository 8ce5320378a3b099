"""An embedder that refuses texts containing the word 'poison', for failure paths."""

from __future__ import annotations

import numpy as np

from heurist.embedding.errors import PermanentEmbeddingError
from heurist.embedding.hashing import HashEmbedder


class PoisonEmbedder(HashEmbedder):
    """The hash embedder, except that any text with 'poison' in it fails permanently."""

    def _embed(self, texts: list[str]) -> np.ndarray:
        if any("poison" in t.lower() for t in texts):
            raise PermanentEmbeddingError("refused: the text contains 'poison'")
        return super()._embed(texts)
