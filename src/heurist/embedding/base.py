"""The Embedder interface and the validation every embedder shares.

Texts in, float32 ``(n, dim)`` L2-normalized rows out. Subclasses implement only
``_load`` and ``_embed``; the base class owns laziness, locking and validation, so
no embedder can hand the queue an empty text's vector, a NaN or a wrong shape.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from heurist.embedding.chunking import TokenWindow
from heurist.embedding.errors import PermanentEmbeddingError

_ZERO_NORM = 1e-12


def check_texts(texts: Sequence[str]) -> list[str]:
    """Reject what no model can embed meaningfully, naming the index so a batch can be split."""
    if isinstance(texts, str | bytes):
        raise TypeError("embed() takes a sequence of texts, not a single string")
    checked = list(texts)
    for index, text in enumerate(checked):
        if not isinstance(text, str):
            raise PermanentEmbeddingError(
                f"text {index} is {type(text).__name__}, not str", details={"index": index}
            )
        if not text.strip():
            raise PermanentEmbeddingError(
                f"text {index} is empty or whitespace", details={"index": index}
            )
    return checked


def check_vectors(vectors: object, n: int, dim: int) -> np.ndarray:
    """Check shape and finiteness, then L2-normalize: the one gate between a model and storage."""
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise PermanentEmbeddingError(f"vectors are not numeric arrays: {exc}") from exc
    if array.ndim != 2 or array.shape != (n, dim):
        raise PermanentEmbeddingError(
            f"expected vectors of shape ({n}, {dim}), got {array.shape}",
            details={"expected_dim": dim, "shape": list(array.shape)},
        )
    bad_rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad_rows.size:
        raise PermanentEmbeddingError(
            f"vector {int(bad_rows[0])} contains NaN or inf", details={"index": int(bad_rows[0])}
        )
    norms = np.linalg.norm(array.astype(np.float64), axis=1, keepdims=True)
    zero_rows = np.flatnonzero(norms[:, 0] < _ZERO_NORM)
    if zero_rows.size:
        raise PermanentEmbeddingError(
            f"vector {int(zero_rows[0])} is all zeros", details={"index": int(zero_rows[0])}
        )
    return np.ascontiguousarray((array / norms).astype(np.float32))


class Embedder(ABC):
    """Turns texts into normalized float32 vectors; loads lazily, safe to share across threads.

    ``model_id`` is stored with every vector so a model change can be detected.
    """

    model_id: str
    dim: int
    max_input_tokens: int
    #: Hold a lock around ``_embed``: a local model is not re-entrant and gains nothing
    #: from concurrent calls; an HTTP embedder turns this off.
    serialize_calls: bool = True

    def __init__(self) -> None:
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Load the model once; later calls return at once (double-checked under a lock)."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: float32 ``(len(texts), dim)``, each row of unit length."""
        checked = check_texts(texts)
        if not checked:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        if self.serialize_calls:
            with self._call_lock:
                raw = self._embed(checked)
        else:
            raw = self._embed(checked)
        return check_vectors(raw, len(checked), self._expected_dim(raw))

    def window(self) -> TokenWindow | None:
        """The model's window in its own tokens, to size chunks and batches; None when the
        embedder cannot count tokens (chunks are then sized in words)."""
        return None

    def close(self) -> None:
        """Release what ``load`` acquired; a later ``embed`` loads again."""
        with self._load_lock:
            self._close()
            self._loaded = False

    def _expected_dim(self, raw: np.ndarray) -> int:
        """The dimension the output must have; an embedder that learns it overrides this."""
        return self.dim

    def _close(self) -> None:  # noqa: B027 (optional hook: most embedders hold nothing)
        """Nothing to release by default."""

    @abstractmethod
    def _load(self) -> None:
        """Acquire the model or client; called once, under the load lock."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Return raw vectors for non-empty texts; the base class validates and normalizes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"
