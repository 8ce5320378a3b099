"""HTTP request latency by route template, as ASGI middleware.

Labelled by the route's template (``/api/v1/experiences/{entry_id}``), never the raw
path, so ids do not explode the label set. Requests refused before routing (a 401
from the auth middleware) are matched here against the route templates the app
documents (its OpenAPI paths); paths that match none are counted under ``unmatched``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heurist.observability.metrics import Metrics

UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, templates: Callable[[], list[str]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe_request(
                scope.get("method", ""),
                self._template(scope),
                status,
                time.perf_counter() - started,
            )

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        if self._patterns is None:  # built once, after every route is included
            self._patterns = [(compile_path(t)[0], t) for t in self.templates()]
        path = scope.get("path", "")
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return UNMATCHED
