"""Any OpenAI-compatible ``/embeddings`` endpoint: OpenAI, Ollama, vLLM, TEI.

Failures are sorted for the queue at this boundary: timeouts, refused connections and
5xx (after a few quick retries) are an outage (ProviderUnavailable, the pool backs
off); a 4xx about the input is permanent; 429 is retried honouring ``Retry-After``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

from heurist.embedding.base import Embedder
from heurist.embedding.errors import (
    EmbeddingError,
    PermanentEmbeddingError,
    ProviderUnavailable,
)
from heurist.errors import ConfigError
from heurist.settings import Settings

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: A wrong URL, key or model name is the provider's state, not the text's: treat it as
#: an outage so the pool waits for an operator instead of failing every row.
_PROVIDER_STATUS = frozenset({401, 403, 404})
_MESSAGE_LIMIT = 300


class OpenAIEmbedder(Embedder):
    """POSTs ``{"model", "input"}`` to ``{base_url}/embeddings`` in sub-batches."""

    serialize_calls = False  # httpx.Client is thread-safe; the provider can batch

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int | None = None,
        timeout: float = 30.0,
        max_batch: int = 64,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        max_retry_after: float = 30.0,
        max_input_tokens: int = 8191,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model_id = model
        self.api_key = api_key
        self._dim = dim
        self.timeout = timeout
        self.max_batch = max_batch
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_retry_after = max_retry_after
        self.max_input_tokens = max_input_tokens
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._dim_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        if not settings.embedding_url:
            raise ConfigError("HEURIST_EMBEDDING_URL is required when EMBEDDING_PROVIDER=openai")
        return cls(
            base_url=settings.embedding_url,
            model=settings.embedding_model,
            api_key=settings.embedding_api_key,
            dim=settings.embedding_dim,
            timeout=settings.embedding_timeout,
        )

    @property
    def dim(self) -> int:  # type: ignore[override]
        """Configured, or learned from the first response (one probe request if asked first)."""
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _expected_dim(self, raw: np.ndarray) -> int:
        with self._dim_lock:
            if self._dim is None and raw.ndim == 2 and raw.shape[1] > 0:
                self._dim = int(raw.shape[1])
                logger.info("embedding dimension of %s learned: %d", self.model_id, self._dim)
        return self._dim if self._dim is not None else -1

    def _load(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(timeout=self.timeout, headers=headers)

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        parts = [
            self._embed_batch(texts[start : start + self.max_batch])
            for start in range(0, len(texts), self.max_batch)
        ]
        widths = {part.shape[1] for part in parts}
        if len(widths) > 1:
            raise PermanentEmbeddingError(
                f"provider returned vectors of dimensions {sorted(widths)}"
            )
        return np.concatenate(parts)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        payload = self._post({"model": self.model_id, "input": texts})
        return _parse_vectors(payload, len(texts))

    def _post(self, body: dict[str, Any]) -> Any:
        """POST with retries on transient failures; classify what remains."""
        attempt = 0
        while True:
            try:
                response = self._send(body)
            except httpx.TransportError as exc:  # connect, DNS, read timeout, broken stream
                if attempt >= self.max_retries:
                    reason = f"{type(exc).__name__}: {self._scrub(str(exc))}"
                    raise ProviderUnavailable(f"embedding provider unreachable: {reason}") from exc
                self._sleep(self._backoff(attempt))
            else:
                if response.is_success:
                    return _json(response)
                if response.status_code not in _RETRYABLE_STATUS or attempt >= self.max_retries:
                    raise self._status_error(response)
                self._sleep(self._retry_delay(response, attempt))
            attempt += 1

    def _send(self, body: dict[str, Any]) -> httpx.Response:
        client = self._client
        if client is None:
            raise EmbeddingError("embedder closed")
        return client.post(f"{self.base_url}/embeddings", json=body)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_seconds * (2**attempt), self.max_retry_after))

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        """``Retry-After`` in seconds if the provider sent one (capped), else our backoff."""
        header = response.headers.get("retry-after")
        try:
            seconds = float(header) if header is not None else None
        except ValueError:  # an HTTP date: rare for APIs, use our own backoff
            seconds = None
        if seconds is None or seconds < 0:
            return self._backoff(attempt)
        return min(seconds, self.max_retry_after)

    def _status_error(self, response: httpx.Response) -> EmbeddingError:
        status = response.status_code
        text = f"embedding provider answered {status}: {self._provider_message(response)}"
        details = {"status": status}
        if status in _RETRYABLE_STATUS or status >= 500 or status in _PROVIDER_STATUS:
            return ProviderUnavailable(text, details=details)
        return PermanentEmbeddingError(text, details=details)

    def _provider_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            message = response.text
        else:
            message = _message_of(body)
        return self._scrub(message)

    def _scrub(self, message: str) -> str:
        """Truncate, and never let the API key reach a log or the database."""
        if self.api_key:
            message = message.replace(self.api_key, "***")
        message = " ".join(message.split())
        if len(message) > _MESSAGE_LIMIT:
            message = message[:_MESSAGE_LIMIT] + "..."
        return message or "(no message)"


def _message_of(body: Any) -> str:
    """The human part of an error body: OpenAI ``error.message``, FastAPI ``detail``, or all."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        for key in ("error", "detail", "message"):
            if key in body:
                return str(body[key])
    return str(body)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        snippet = response.text[:100]
        raise EmbeddingError(f"embedding provider sent invalid JSON: {snippet!r}") from exc


def _parse_vectors(payload: Any, n: int) -> np.ndarray:
    """``data[i].embedding`` ordered by ``data[i].index`` (providers may reorder)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != n:
        got = len(data) if isinstance(data, list) else "no"
        raise EmbeddingError(f"embedding provider returned {got} embeddings for {n} inputs")
    try:
        items = sorted(data, key=lambda item: int(item["index"]))
        rows = [item["embedding"] for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbeddingError(f"malformed embedding response: {exc!r}") from exc
    if [int(item["index"]) for item in items] != list(range(n)):
        raise EmbeddingError("embedding response indexes are not 0..n-1")
    try:
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise PermanentEmbeddingError(f"provider vectors are ragged or not numeric: {exc}") from exc
