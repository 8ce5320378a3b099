"""Refuse, before any route runs, what no route may see.

A NUL byte in the path or in a query parameter answers 400 naming the parameter, on
every route at once: PostgreSQL cannot store or compare text holding one, and no real
id, code, query or holder contains it (request bodies refuse it through the field types
of ``heurist.domain.fields``).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from heurist.api.asgi_reply import send_error


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            field = nul_parameter(scope)
            if field is not None:
                await send_error(
                    send,
                    400,
                    "invalid_parameter",
                    f"{field}: must not contain NUL bytes",
                    {"field": field},
                )
                return
        await self.app(scope, receive, send)


def nul_parameter(scope: Scope) -> str | None:
    """The name of the first path or query parameter holding a NUL byte ('path' for the
    path itself), or None."""
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and "\x00" not in query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\0") or "query"
    return None
