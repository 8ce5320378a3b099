"""The one client of heurist's HTTP API: sync for the CLI and the importer, async for MCP.

Both send the token the route needs (the admin token for ``/admin``, else the data API's)
and turn every failure into one error, :class:`ApiError`: the API's own message and
details for an error answer, or ``status`` None when no server answered at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from heurist.errors import HeuristError
from heurist.tokens import read_admin_token

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from heurist.settings import Settings

DEFAULT_TIMEOUT = 30.0
# The header that makes a create safe to retry (``heurist.store.idempotency``).
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The ASGI transport needs some URL; nothing resolves it, and the app's Host check
# (heurist.api.request_guard) accepts a loopback name.
IN_PROCESS_URL = "http://localhost"


class ApiError(HeuristError):
    """The API refused a request (``status`` is its HTTP status), or could not be reached
    (``status`` is None)."""

    code = "api_error"

    def __init__(self, message: str, *, status: int | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status


def parse_error(response: httpx.Response) -> tuple[str, Any]:
    """The message and details of an error answer, or its raw text if it is not ours."""
    try:
        err = response.json()["error"]
        return str(err["message"]), err.get("details")
    except (ValueError, KeyError, TypeError):
        return response.text[:500], None


def unreachable(where: str, exc: Exception) -> ApiError:
    return ApiError(
        f"cannot reach the heurist server at {where} ({exc}); "
        "start it with 'heurist serve' or set HEURIST_API_URL"
    )


def answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer (None when empty); an error answer raises ApiError."""
    if response.status_code >= 400:
        message, details = parse_error(response)
        status = response.status_code
        raise ApiError(f"{status}: {message}", status=status, details=details)
    return response.json() if response.content else None


class _Tokens:
    def __init__(self, api_token: str | None, admin_token: str | None) -> None:
        self.api_token = api_token
        self.admin_token = admin_token

    def headers(self, admin: bool, given: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(given or {})
        token = self.admin_token if admin else self.api_token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers


class ApiClient(_Tokens):
    """A blocking client of a running server (the CLI, the importer's queue hold)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_token: str | None = None,
        admin_token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(api_token, admin_token)
        self.base = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> ApiClient:
        """The server at ``HEURIST_API_URL``, with the admin token from the settings or the
        server's token file."""
        admin_token = read_admin_token(settings.admin_token, settings.data_dir)
        return cls(
            settings.api_url, api_token=settings.api_token, admin_token=admin_token, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        admin: bool = False,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = self.headers(admin, kwargs.pop("headers", None))
        try:
            response = self._http.request(
                method,
                path,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                **kwargs,
            )
        except httpx.TransportError as exc:
            raise unreachable(self.base, exc) from exc
        return answer(response)

    def post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
        """POST a JSON body; with ``idempotency_key``, a retry with the same key and body
        answers the first create's result and creates nothing."""
        return self.request("POST", path, json=body, headers=idempotency(idempotency_key))


def idempotency(key: str | None) -> dict[str, str]:
    return {} if key is None else {IDEMPOTENCY_HEADER: key}


class AsyncApiClient(_Tokens):
    """An async client (the MCP tools): of a running server, or of an app in this process."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        where: str,
        api_token: str | None = None,
        admin_token: str | None = None,
    ) -> None:
        super().__init__(api_token, admin_token)
        self._http = http
        self.where = where

    @classmethod
    def remote(
        cls, api_url: str, api_token: str | None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> AsyncApiClient:
        """A client of a running server (``heurist mcp``)."""
        http = httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=timeout)
        return cls(http, where=api_url, api_token=api_token)

    @classmethod
    def in_process(cls, app: ASGIApp, api_token: str | None) -> AsyncApiClient:
        """Calls into ``app`` without a socket (the server's own ``/mcp``)."""
        # raise_app_exceptions=False: a crash in a route answers 500 like over the
        # network, instead of propagating into the caller.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(
            transport=transport, base_url=IN_PROCESS_URL, timeout=DEFAULT_TIMEOUT
        )
        return cls(http, where="this server", api_token=api_token)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> Any:
        headers = self.headers(admin, kwargs.pop("headers", None))
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise unreachable(self.where, exc) from exc
        return answer(response)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET with the parameters that are set (None values are left out)."""
        present = {k: v for k, v in (params or {}).items() if v is not None}
        return await self.request("GET", path, params=present)

    async def post(
        self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """POST a JSON body; with ``idempotency_key``, a retry with the same key and body
        answers the first create's result and creates nothing."""
        return await self.request("POST", path, json=body, headers=idempotency(idempotency_key))

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("PATCH", path, json=body)
