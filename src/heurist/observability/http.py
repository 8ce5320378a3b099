"""HTTP request latency by route template, as ASGI middleware.

Labelled by the route's template (``/api/v1/experiences/{entry_id}``), never the raw
path, so ids do not explode the label set. Requests refused before routing (a 401
from the auth middleware) are matched against the routes here; paths that match no
route are counted under ``unmatched``.
"""

from __future__ import annotations

import time

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heurist.observability.metrics import Metrics

UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

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
        for candidate in self.routes:
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return str(getattr(candidate, "path", UNMATCHED))
        return UNMATCHED
