"""Choose the embedder from settings by a registry, not an if ladder.

Construction is cheap (no model load, no request): the app factory can build the
embedder at start-up and the workers load it on first use.
"""

from __future__ import annotations

from collections.abc import Callable

from heurist.embedding.base import Embedder
from heurist.embedding.hashing import HashEmbedder
from heurist.embedding.local import LocalEmbedder
from heurist.embedding.openai import OpenAIEmbedder
from heurist.errors import ConfigError
from heurist.settings import Settings

EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "local": LocalEmbedder.from_settings,
    "openai": OpenAIEmbedder.from_settings,
    "hash": HashEmbedder.from_settings,
}


def build_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.embedding_provider`` names, not yet loaded."""
    try:
        make = EMBEDDERS[settings.embedding_provider]
    except KeyError:
        raise ConfigError(
            f"HEURIST_EMBEDDING_PROVIDER={settings.embedding_provider!r}: "
            f"expected one of {sorted(EMBEDDERS)}"
        ) from None
    return make(settings)
