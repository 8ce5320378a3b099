"""Texts in, normalized float32 vectors out.

``build_embedder(settings)`` picks the provider; every embedder implements
:class:`Embedder` and raises only the errors in :mod:`heurist.embedding.errors`.
Nothing heavy (torch, onnxruntime) is imported until an embedder is loaded.
"""

from __future__ import annotations

from heurist.embedding.base import Embedder, check_texts, check_vectors
from heurist.embedding.errors import (
    EmbeddingError,
    FidelityError,
    PermanentEmbeddingError,
    ProviderUnavailable,
)
from heurist.embedding.factory import EMBEDDERS, build_embedder
from heurist.embedding.fidelity import FIXED_TEXTS, check_fidelity
from heurist.embedding.hashing import HashEmbedder
from heurist.embedding.local import LocalEmbedder, SentenceTransformerEmbedder
from heurist.embedding.openai import OpenAIEmbedder

__all__ = [
    "EMBEDDERS",
    "FIXED_TEXTS",
    "Embedder",
    "EmbeddingError",
    "FidelityError",
    "HashEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "PermanentEmbeddingError",
    "ProviderUnavailable",
    "SentenceTransformerEmbedder",
    "build_embedder",
    "check_fidelity",
    "check_texts",
    "check_vectors",
]
