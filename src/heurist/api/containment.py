"""Nothing escapes the app: the outermost ASGI layer answers any exception itself.

Starlette's error middleware answers an unexpected exception with our 500 (see
``heurist.api.errors``) and then re-raises it for the server to log; uvicorn then closes
the connection, so a client's next request on the same keep-alive connection is reset.
Here the re-raise stops: a response already sent stays sent (the error was logged with
its traceback when it was answered), and one not yet started is answered with the 500
in the error shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heurist.api.asgi_reply import send_error

log = logging.getLogger(__name__)


class ContainErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.debug("contained an error already answered: %r", exc)
                return
            log.exception("unexpected error before any response", exc_info=exc)
            await send_error(
                send, 500, "internal_error", "an unexpected error occurred; see the server log"
            )


class ContainedFastAPI(FastAPI):
    """FastAPI whose whole middleware stack, Starlette's own included, sits inside
    :class:`ContainErrors`."""

    def build_middleware_stack(self) -> ASGIApp:
        return ContainErrors(super().build_middleware_stack())
