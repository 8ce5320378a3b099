"""Embedders for queue tests: the hash embedder with a controllable fault or a gate."""

from __future__ import annotations

import threading
import time

import numpy as np

from heurist.embedding.errors import PermanentEmbeddingError, ProviderUnavailable
from heurist.embedding.hashing import HashEmbedder


class ScriptedEmbedder(HashEmbedder):
    """Hash vectors, plus: poison texts, an outage switch, a gate, a delay, a call log."""

    serialize_calls = False

    def __init__(self, dim: int = 64, *, poison: str = "POISON", delay: float = 0.0) -> None:
        super().__init__(dim)
        self.poison = poison
        self.delay = delay
        self.down = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.calls: list[list[str]] = []
        self._log_lock = threading.Lock()

    def _embed(self, texts: list[str]) -> np.ndarray:
        with self._log_lock:
            self.calls.append(list(texts))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise ProviderUnavailable("connection refused (test outage)")
        for text in texts:
            if self.poison in text:
                raise PermanentEmbeddingError(f"poisoned text: {text[:40]!r}")
        return super()._embed(texts)

    def texts_embedded(self) -> list[str]:
        with self._log_lock:
            return [t for call in self.calls for t in call]
