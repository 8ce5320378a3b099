"""An error answer sent straight over ASGI, in the API's shape, for the middlewares that
refuse a request before any route sees it (auth, body limit, the request guard)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.types import Scope, Send


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    raw = json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (names are lower case in ASGI)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
