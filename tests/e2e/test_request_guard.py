"""DNS rebinding and cross-site writes are refused on every route by one middleware
(issue 13, class 6): a foreign Host answers 421, a foreign Origin on a state-changing
request 403, in the error shape."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.server import LiveServer

Server = Callable[..., LiveServer]
MCP_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The guard does not depend on the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'heurist.db'}"


def test_a_foreign_host_is_refused_on_every_route(server_factory: Server) -> None:
    server = server_factory()
    evil = {"Host": f"rebound.example:{server.port}"}
    for method, path in [
        ("GET", "/health"),
        ("GET", "/api/v1/categories"),
        ("GET", "/admin/queue/status"),
        ("GET", "/ui"),
        ("GET", "/metrics"),
        ("POST", "/mcp"),
        ("GET", "/docs"),
    ]:
        response = server.admin.request(method, path, headers=evil | MCP_HEADERS, json=MCP_INIT)
        assert response.status_code == 421, (path, response.text)
        assert response.json()["error"]["code"] == "misdirected_request"
    for host in ("localhost", "127.0.0.1", "[::1]", "10.1.2.3", "app.localhost"):
        response = server.client.get("/health", headers={"Host": f"{host}:{server.port}"})
        assert response.status_code == 200, (host, response.text)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")  # a probe that sends no Host
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_allowed_hosts_admit_a_deployment_name(server_factory: Server) -> None:
    server = server_factory(allowed_hosts=("memory.example.org",))
    ok = server.client.get("/api/v1/categories", headers={"Host": "Memory.example.org"})
    assert ok.status_code == 200, ok.text
    assert server.client.get("/health", headers={"Host": "other.example.org"}).status_code == 421


def test_a_foreign_origin_may_not_change_anything(server_factory: Server) -> None:
    server = server_factory()
    body = {"code": "py", "name": "Python"}
    for origin in (
        "http://rebound.example",
        "null",
        f"https://127.0.0.1.evil.example:{server.port}",
    ):
        headers = {"Origin": origin}
        for method, path, json in [
            ("POST", "/api/v1/categories", body),
            ("POST", "/admin/queue/pause", None),
            ("DELETE", "/api/v1/experiences/x", None),
            ("POST", "/mcp", MCP_INIT),
        ]:
            response = server.admin.request(method, path, headers=headers | MCP_HEADERS, json=json)
            assert response.status_code == 403, (origin, path, response.text)
            assert response.json()["error"]["code"] == "foreign_origin"
        # reading is left to the browser's same-origin rule
        assert server.client.get("/api/v1/categories", headers=headers).status_code == 200
    assert server.client.get("/api/v1/categories").json()["categories"] == []
    assert not server.admin.get("/admin/queue/status").json()["paused"]

    same = {"Origin": server.url}
    assert server.client.post("/api/v1/categories", json=body, headers=same).status_code == 201
    local = {"Origin": "http://localhost:5173"}
    created = server.client.post("/api/v1/categories", json=body | {"code": "b"}, headers=local)
    assert created.status_code == 201, created.text
