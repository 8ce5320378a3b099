"""The embedders one process may need: its configured model, and the models the database
names (the serving model and a migration's target), built from the settings recorded
with them (``serving_model.spec``) on first use.

During a model change a process serves search with the previous model while its workers
embed with both, so it holds two embedders; which ones is the database's word, never a
per-process guess.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from heurist.embedding.base import Embedder
from heurist.settings import Settings

log = logging.getLogger(__name__)

# The settings that decide which model an embedder is; recorded with the serving model.
# Secrets (the API key) are never recorded: a rebuilt embedder takes this process's.
SPEC_FIELDS = (
    "embedding_provider",
    "embedding_model",
    "embedding_dim",
    "embedding_url",
    "embedding_runtime",
)


def model_spec(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What rebuilds ``embedder`` in another process: the model fields of ``settings``, with
    the dimension the embedder really has (the hash embedder's id is its dimension)."""
    spec = {name: getattr(settings, name) for name in SPEC_FIELDS}
    if spec["embedding_provider"] == "hash" or spec["embedding_dim"] is not None:
        spec["embedding_dim"] = embedder.dim
    return spec


class EmbedderSet:
    """Embedders by model id: the ones given, and the ones built from a recorded spec."""

    def __init__(
        self,
        settings: Settings,
        primary: Embedder,
        *,
        extra: Iterable[Embedder] = (),
        build: Callable[[Settings], Embedder] | None = None,
    ) -> None:
        self.settings = settings
        self.primary = primary
        self._build = build
        self._by_model: dict[str, Embedder] = {primary.model_id: primary}
        for embedder in extra:
            self._by_model.setdefault(embedder.model_id, embedder)
        self._owned: list[Embedder] = []
        self._unbuildable: set[str] = set()
        self._lock = threading.Lock()

    def get(self, model: str, spec: Mapping[str, Any] | None) -> Embedder | None:
        """The embedder of ``model``, built from ``spec`` if need be; None if it cannot be."""
        with self._lock:
            found = self._by_model.get(model)
            if found is not None or model in self._unbuildable:
                return found
            built = self._make(model, spec)
            if built is None:
                self._unbuildable.add(model)
                return None
            self._by_model[model] = built
            self._owned.append(built)
            return built

    def _make(self, model: str, spec: Mapping[str, Any] | None) -> Embedder | None:
        if spec is None or self._build is None:
            log.warning("model %s: no recorded settings to build it in this process", model)
            return None
        wanted = {k: v for k, v in spec.items() if k in SPEC_FIELDS}
        try:
            embedder = self._build(self.settings.model_copy(update=wanted))
        except Exception:  # a model we cannot build is reported, the process goes on
            log.exception("model %s: could not build its embedder from %s", model, wanted)
            return None
        if embedder.model_id != model:
            log.warning(
                "model %s: its recorded settings build %s instead", model, embedder.model_id
            )
            return None
        return embedder

    def close(self) -> None:
        """Close the embedders this set built (the given ones belong to their owner)."""
        for embedder in self._owned:
            embedder.close()
