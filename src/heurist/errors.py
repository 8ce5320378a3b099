"""The exception tree. Every error heurist raises on purpose derives from HeuristError.

    HeuristError
    ├── ConfigError                 a setting is invalid; the process must not start
    ├── StoreError                  the database layer
    │   ├── NotFound                an id or code that does not exist          -> 404
    │   ├── Conflict                a unique value already taken               -> 409
    │   └── InvalidInput            a value breaks a rule or a limit           -> 422
    ├── QueueError                  the embedding queue
    │   └── QueuePaused             an operation that cannot finish while paused -> 409
    ├── AuthError                   missing or wrong bearer token              -> 401
    ├── TooBusy                     too many requests of a kind waiting at once -> 429
    └── EmbeddingError              the embedding provider (heurist.embedding.errors)

HTTP status codes are assigned in one place: heurist.api.errors.
"""

from __future__ import annotations

from typing import Any


class HeuristError(Exception):
    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(HeuristError):
    code = "config_error"


class StoreError(HeuristError):
    code = "store_error"


class NotFound(StoreError):
    code = "not_found"


class Conflict(StoreError):
    code = "conflict"


class InvalidInput(StoreError):
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details if details is not None else {"field": field})
        self.field = field


class QueueError(HeuristError):
    code = "queue_error"


class QueuePaused(QueueError):
    code = "queue_paused"


class AuthError(HeuristError):
    code = "unauthorized"


class TooBusy(HeuristError):
    """Too many requests of one kind are waiting already; the client should retry later."""

    code = "too_busy"
