"""Refuse, before any route runs, what no route may see. One middleware, every route
(``/api``, ``/admin``, ``/ui``, ``/mcp``, ``/health``):

- **A foreign Host** (421): DNS rebinding. A web page whose name is made to resolve to
  127.0.0.1 sends its own name as ``Host``; only loopback names, the bound address, IP
  literals (an address names no attacker's site) and ``HEURIST_ALLOWED_HOSTS`` pass; so
  does a request with no Host at all (an HTTP/1.0 probe: browsers always send one).
- **A foreign Origin on a state-changing request** (403): a page of another site may not
  write through the user's browser. Reads are left to the browser's same-origin rule (no
  CORS headers are ever sent); an Origin is accepted when it is the request's own host,
  a loopback name or an allowed host.
- **A NUL byte in the path or a query parameter** (400, naming the parameter):
  PostgreSQL cannot store or compare text holding one, and no real id, code, query or
  holder contains it (request bodies refuse it through ``heurist.domain.fields``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from heurist.api.asgi_reply import header, send_error

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset(("localhost", "127.0.0.1", "::1"))
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


class HostPolicy:
    """Which ``Host`` and ``Origin`` values this server answers to."""

    def __init__(self, bound: str, allowed: Iterable[str] = ()) -> None:
        extra = {a.lower() for a in allowed}
        self.any_host = "*" in extra
        self.names = LOOPBACK_NAMES | {bound.lower()} | (extra - {"*"})

    def allows_host(self, host: str | None) -> bool:
        if self.any_host or host is None:
            return True  # no Host at all: HTTP/1.0 probes, never a browser
        name = _hostname(host)
        return name is not None and (
            name in self.names or name.endswith(".localhost") or _is_ip(name)
        )

    def allows_origin(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True  # not sent by a browser (curl, the CLI, MCP clients)
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null": a sandboxed frame, a file
        if host is not None and parts.netloc.lower() == host.lower():
            return True
        return parts.hostname is not None and parts.hostname in self.names


class RequestGuard:
    def __init__(self, app: ASGIApp, *, hosts: HostPolicy) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                status, code, message, details = refusal
                await send_error(send, status, code, message, details)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str, str, dict[str, str]] | None:
        host = header(scope, b"host")
        if not self.hosts.allows_host(host):
            log.warning("refused a request for host %r (not in HEURIST_ALLOWED_HOSTS)", host)
            message = (
                f"this server does not answer to host {str(host)[:100]!r}; "
                "the operator may add it to HEURIST_ALLOWED_HOSTS"
            )
            return 421, "misdirected_request", message, {"field": "Host"}
        origin = header(scope, b"origin")
        if scope["method"] not in SAFE_METHODS and not self.hosts.allows_origin(origin, host):
            log.warning("refused a %s from origin %r", scope["method"], origin)
            message = f"requests from origin {str(origin)[:100]!r} may not change anything here"
            return 403, "foreign_origin", message, {"field": "Origin"}
        field = nul_parameter(scope)
        if field is not None:
            message = f"{field}: must not contain NUL bytes"
            return 400, "invalid_parameter", message, {"field": field}
        return None


def _hostname(host: str | None) -> str | None:
    if not host:
        return None
    try:
        return urlsplit(f"//{host}").hostname
    except ValueError:
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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
