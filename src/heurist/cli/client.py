"""A small HTTP client of a running heurist server, for the CLI and the MCP server."""

from __future__ import annotations

from typing import Any

import httpx

from heurist.api.auth import read_admin_token
from heurist.errors import HeuristError
from heurist.settings import Settings


class ServerError(HeuristError):
    """The server answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status


class ApiClient:
    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.base = settings.api_url.rstrip("/")
        self.admin_token = read_admin_token(settings.admin_token, settings.data_dir)
        self.api_token = settings.api_token
        self._http = httpx.Client(base_url=self.base, timeout=timeout)

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
        headers = kwargs.pop("headers", {})
        token = self.admin_token if admin else self.api_token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._http.request(
                method,
                path,
                headers=headers,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                **kwargs,
            )
        except httpx.TransportError as exc:
            raise ServerError(
                f"cannot reach the heurist server at {self.base} ({exc}); "
                "start it with 'heurist serve' or set HEURIST_API_URL"
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None


def _error(response: httpx.Response) -> ServerError:
    message, details = parse_error(response)
    return ServerError(
        f"{response.status_code}: {message}", status=response.status_code, details=details
    )


def parse_error(response: httpx.Response) -> tuple[str, Any]:
    """The message and details of an error answer, or its raw text if it is not ours."""
    try:
        err = response.json()["error"]
        return str(err["message"]), err.get("details")
    except (ValueError, KeyError, TypeError):
        return response.text[:500], None
