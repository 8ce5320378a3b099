"""``/mcp`` on the heurist server: the same tools over streamable HTTP.

The tools call the app they are mounted in through httpx's ASGI transport: no
socket, no loopback port to know (the server may bind any address, or sit behind a
proxy), and every call still goes through the routes, their validation, limits,
auth and error mapping, exactly as over the network. The SDK's Starlette app is
not mounted whole: its one route is added to the FastAPI router, and its session
manager runs inside the app's lifespan (``lifespan`` below).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, HTTPException
from mcp.server.transport_security import TransportSecuritySettings

from heurist.client import AsyncApiClient
from heurist.mcp.server import build_server
from heurist.settings import Settings

MCP_PATH = "/mcp"


def mount_mcp(app: FastAPI, settings: Settings) -> AbstractAsyncContextManager[None]:
    """Add ``/mcp`` to ``app``; returns the context to enter in the app's lifespan."""
    api = AsyncApiClient.in_process(app, settings.api_token)
    server = build_server(api)
    # Stateless with JSON answers: the tools need no session state or server push,
    # so any process behind a load balancer can answer any request. Host and Origin are
    # checked for every route at once by heurist.api.request_guard, not by the SDK here.
    sdk_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=settings.host,
    )
    # A stateless server pushes nothing: the SDK's GET (an SSE stream for server-initiated
    # messages) would hold a connection open forever. The spec's answer is 405; routed
    # before the SDK's route, so it matches first.
    app.add_api_route(MCP_PATH, _no_event_stream, methods=["GET"], include_in_schema=False)
    app.router.routes.extend(sdk_app.routes)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server.session_manager.run():
            try:
                yield
            finally:
                await api.aclose()

    return lifespan()


async def _no_event_stream() -> None:
    raise HTTPException(
        405,
        "this MCP endpoint is stateless and streams nothing: use POST",
        headers={"Allow": "POST"},
    )
