"""Authentication as ASGI middleware, so a request is refused before its body is read."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from heurist.api.asgi_reply import header, send_error
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
                        check_bearer(header(scope, b"authorization"), token, realm)
                    except AuthError as exc:
                        await send_error(
                            send,
                            401,
                            "unauthorized",
                            exc.message,
                            headers=[(b"www-authenticate", b"Bearer")],
                        )
                        return
                    break
        await self.app(scope, receive, send)
