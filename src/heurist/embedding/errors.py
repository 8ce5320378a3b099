"""Embedding errors, split by what the queue should do about them.

    HeuristError
    └── EmbeddingError              transient: retry this batch later (with backoff)
        ├── PermanentEmbeddingError the input or the output is wrong; retrying cannot help
        │   └── FidelityError       a runtime's vectors differ from the reference model's
        └── ProviderUnavailable     the provider is down: back the whole worker pool off

The queue keys its behaviour on these classes only, never on message text.
"""

from __future__ import annotations

from heurist.errors import HeuristError


class EmbeddingError(HeuristError):
    """A failure that may succeed on a later attempt."""

    code = "embedding_error"


class PermanentEmbeddingError(EmbeddingError):
    """Cannot succeed on retry: empty text, wrong dimension, NaN/inf, a provider's 4xx."""

    code = "embedding_permanent"


class FidelityError(PermanentEmbeddingError):
    """A candidate runtime is not faithful to the reference (minimum cosine too low)."""

    code = "embedding_fidelity"


class ProviderUnavailable(EmbeddingError):
    """An outage (refused, DNS, timeouts, 5xx after retries): pause the pool, spare the rows."""

    code = "embedding_unavailable"
