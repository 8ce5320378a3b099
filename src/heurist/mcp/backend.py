"""How the MCP tools reach the HTTP API: over the network, or in-process.

Both ways go through the whole app (validation, limits, error mapping, auth), so a
tool sees exactly what any other client sees, and the API's error message is what
the assistant reads.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.types import ASGIApp

from heurist.cli.client import parse_error
from heurist.errors import HeuristError

# The ASGI transport needs some URL; nothing resolves or checks this host.
IN_PROCESS_URL = "http://heurist.internal"


class ApiError(HeuristError):
    """The API refused a request, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status


class ApiBackend:
    """A small async JSON client of the heurist HTTP API."""

    def __init__(self, http: httpx.AsyncClient, *, where: str) -> None:
        self._http = http
        self.where = where

    @classmethod
    def remote(cls, api_url: str, api_token: str | None, *, timeout: float = 30.0) -> ApiBackend:
        """A client of a running server (``heurist mcp``)."""
        http = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), timeout=timeout, headers=_auth(api_token)
        )
        return cls(http, where=api_url)

    @classmethod
    def in_process(cls, app: ASGIApp, api_token: str | None) -> ApiBackend:
        """Calls into ``app`` without a socket (the server's own ``/mcp``)."""
        # raise_app_exceptions=False: a crash in a route answers 500 like over the
        # network, instead of propagating into the MCP session.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(
            transport=transport, base_url=IN_PROCESS_URL, timeout=30.0, headers=_auth(api_token)
        )
        return cls(http, where="this server")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._request("GET", path, params=_clean(params or {}))

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self._request("POST", path, json=body)

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self._request("PATCH", path, json=body)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(
                f"cannot reach the heurist server at {self.where} ({exc!r}); start it with "
                "'heurist serve' or point HEURIST_API_URL at it"
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _error(response: httpx.Response) -> ApiError:
    message, details = parse_error(response)
    return ApiError(
        f"the heurist API answered {response.status_code}: {message}",
        status=response.status_code,
        details=details,
    )
