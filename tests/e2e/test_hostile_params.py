"""Odd but harmless parameters answer 2xx or 4xx in the error shape, never 500, on both
backends; and nothing escapes the app, so a keep-alive connection survives any request
(issue 13, class 5)."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.support.server import LiveServer

Server = Callable[..., LiveServer]
BLANK_QUERIES = ["   ", "\t\n", "\u00a0", " \u3000 "]


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.fixture
def live(server_factory: Server) -> LiveServer:
    server = server_factory()
    assert server.client.post("/api/v1/categories", json={"code": "ci", "name": "CI"}).is_success
    return server


def _error(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in json.dumps(error["details"]), error


def test_a_blank_query_is_refused_in_every_mode(live: LiveServer) -> None:
    for mode in ("hybrid", "semantic", "keyword"):
        for q in BLANK_QUERIES:
            _error(live.client.get("/api/v1/search", params={"q": q, "mode": mode}), 422, "q")


def test_mcp_read_entries_with_a_blank_query_lists_instead(live: LiveServer) -> None:
    body = {"category": "ci", "section": "useful", "title": "T", "playbook": "P"}
    assert live.client.post("/api/v1/experiences", json=body).is_success

    async def scenario() -> None:
        async with Client(f"{live.url}/mcp", read_timeout_seconds=60) as client:
            for q in BLANK_QUERIES:
                result = await client.call_tool(
                    "read_entries", {"entity_type": "experience", "query": q}
                )
                assert not result.is_error, result.content
                assert result.structured_content is not None
                assert result.structured_content["count"] == 1

    anyio.run(scenario)


def test_a_cursor_beyond_64_bits_is_refused(live: LiveServer) -> None:
    for raw in ("seq:99999999999999999999999", "seq:-1", f"seq:{2**63}", "seq:1e400", "seq:x"):
        for plural in ("experiences", "manuals"):
            response = live.client.get(f"/api/v1/{plural}", params={"cursor": cursor(raw)})
            _error(response, 422, "cursor")


NUL_REQUESTS = [
    ("GET", "/api/v1/search?q=a%00b", "q"),
    ("GET", "/api/v1/search?q=ok&category=%00", "category"),
    ("GET", "/api/v1/experiences?category=%00", "category"),
    ("GET", "/api/v1/manuals?cursor=%00", "cursor"),
    ("GET", "/api/v1/experiences/%00", "path"),
    ("PATCH", "/api/v1/manuals/a%00b", "path"),
    ("DELETE", "/api/v1/experiences/%00", "path"),
    ("GET", "/api/v1/categories/%00", "path"),
    ("DELETE", "/admin/queue/import-pause?holder=me%00", "holder"),
    ("GET", "/admin/queue/failed?limit=1&x%00=1", "x"),
]


def test_a_nul_in_a_path_or_query_parameter_is_400(live: LiveServer) -> None:
    for method, target, field in NUL_REQUESTS:
        response = live.admin.request(method, target, json={} if method == "PATCH" else None)
        _error(response, 400, field)


def test_a_nul_in_an_admin_body_is_refused(live: LiveServer) -> None:
    for path, body, field in [
        ("/admin/queue/retry-failed", {"ids": ["ok", "a\x00"]}, "ids"),
        ("/admin/queue/import-pause", {"holder": "me\x00"}, "holder"),
    ]:
        _error(live.admin.post(path, json=body), 422, field)


def test_a_keep_alive_connection_survives_an_unexpected_error(live: LiveServer) -> None:
    def boom() -> None:
        raise RuntimeError("a bug in a route")

    live.app.add_api_route("/boom", boom)
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        for target, status in [
            ("/boom", 500),
            ("/health", 200),
            (f"/api/v1/experiences?cursor={cursor('seq:' + '9' * 30)}", 422),
            ("/api/v1/experiences/%00", 400),
            ("/boom", 500),
            ("/api/v1/categories", 200),
        ]:
            conn.request("GET", target)
            response = conn.getresponse()
            body = json.loads(response.read())
            assert response.status == status, (target, body)
            if status >= 400:
                assert set(body["error"]) == {"code", "message", "details"}
    finally:
        conn.close()
