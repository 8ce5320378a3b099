"""Authentication as ASGI middleware, so a request is refused before its body is read."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from heurist.api.auth import check_bearer
from heurist.errors import AuthError


class BearerAuthMiddleware:
    """Requires ``Authorization: Bearer <token>`` on every path under the given prefixes."""

    def __init__(self, app: ASGIApp, *, rules: list[tuple[str, str, str]]) -> None:
        # rules: (path prefix, expected token, realm name)
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            for prefix, token, realm in self.rules:
                if path == prefix or path.startswith(prefix + "/"):
                    try:
                        check_bearer(_header(scope, b"authorization"), token, realm)
                    except AuthError as exc:
                        await _unauthorized(send, exc.message)
                        return
                    break
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _unauthorized(send: Send, message: str) -> None:
    raw = json.dumps(
        {"error": {"code": "unauthorized", "message": message, "details": None}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b"Bearer"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
