"""Idempotent creates over real HTTP: a retried POST with the same ``Idempotency-Key``
answers the first create's result and creates nothing more, on both backends."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from heurist.client import AsyncApiClient
from heurist.domain.vocabulary import Kind
from heurist.mcp.tools import MemoryTools
from tests.support.server import LiveServer

EXP = {"category": "py", "section": "useful", "title": "Pin torch", "playbook": "Pin it to 2.13."}
MAN = {"category": "py", "title": "Packaging", "content": "How we build wheels."}
CAT = {"code": "rs", "name": "Rust"}
ROUTES = {
    "experiences": ("/api/v1/experiences", EXP, "title"),
    "manuals": ("/api/v1/manuals", MAN, "title"),
    "categories": ("/api/v1/categories", CAT, "name"),
}


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    srv = server_factory()
    assert srv.client.post("/api/v1/categories", json={"code": "py", "name": "Py"}).is_success
    return srv


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def listed(server: LiveServer, path: str) -> list[dict[str, Any]]:
    body = server.client.get(path, params={"limit": 500}).json()
    items: list[dict[str, Any]] = body.get("items", body.get("categories"))
    return items


@pytest.mark.parametrize("what", list(ROUTES))
def test_a_retry_replays_the_first_answer_and_creates_nothing(
    server: LiveServer, what: str
) -> None:
    path, body, _ = ROUTES[what]
    before = len(listed(server, path))
    first = server.client.post(path, json=body, headers=keyed("k-1"))
    again = server.client.post(path, json=body, headers=keyed("k-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(listed(server, path)) == before + 1


@pytest.mark.parametrize("what", list(ROUTES))
def test_the_same_key_with_another_body_is_409_naming_the_header(
    server: LiveServer, what: str
) -> None:
    path, body, field = ROUTES[what]
    assert server.client.post(path, json=body, headers=keyed("k-2")).status_code == 201
    other = server.client.post(path, json={**body, field: "Other"}, headers=keyed("k-2"))
    assert other.status_code == 409
    error = other.json()["error"]
    assert error["details"] == {"field": "Idempotency-Key"}
    assert "Idempotency-Key" in error["message"]


def test_without_the_header_every_create_creates(server: LiveServer) -> None:
    ids = {server.client.post("/api/v1/experiences", json=EXP).json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_key_is_scoped_to_its_route(server: LiveServer) -> None:
    exp = server.client.post("/api/v1/experiences", json=EXP, headers=keyed("k-3"))
    man = server.client.post("/api/v1/manuals", json=MAN, headers=keyed("k-3"))
    assert exp.status_code == man.status_code == 201
    assert exp.json()["id"] != man.json()["id"]


def test_a_failed_create_does_not_hold_its_key(server: LiveServer) -> None:
    missing = {**EXP, "category": "nope"}
    assert (
        server.client.post("/api/v1/experiences", json=missing, headers=keyed("k-4")).status_code
        == 422
    )
    assert server.client.post("/api/v1/categories", json={"code": "nope", "name": "N"}).is_success
    retried = server.client.post("/api/v1/experiences", json=missing, headers=keyed("k-4"))
    assert retried.status_code == 201


def test_a_bad_key_is_422(server: LiveServer) -> None:
    long = server.client.post("/api/v1/experiences", json=EXP, headers=keyed("x" * 201))
    assert long.status_code == 422
    assert "Idempotency-Key" in long.json()["error"]["message"]


@pytest.mark.parametrize("what", ["experiences", "categories"])
def test_eight_concurrent_requests_with_one_key_make_one_entry(
    server: LiveServer, what: str
) -> None:
    path, body, _ = ROUTES[what]
    before = len(listed(server, path))
    key = uuid.uuid4().hex
    start = threading.Barrier(8)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            start.wait()
            response = client.post(path, json=body, headers=keyed(key))
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.text for a in answers}) == 1
    assert len(listed(server, path)) == before + 1


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """Forwards to the server, but loses the answer of the first POST (a timeout, as a
    client sees it) after the server has handled it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            self.keys.append(request.headers.get("Idempotency-Key"))
            if len(self.keys) == 1:
                await response.aread()
                raise httpx.ReadTimeout("answer lost", request=request)
        return response


def test_the_mcp_create_tool_retries_with_its_key(server: LiveServer) -> None:
    transport = LoseFirstAnswer(httpx.AsyncHTTPTransport())
    data = {k: v for k, v in EXP.items() if k != "category"}

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
            tools = MemoryTools(AsyncApiClient(http, where=server.url))
            made = await tools.create_entry(Kind.EXPERIENCE, "py", data)
            second = await tools.create_entry(Kind.EXPERIENCE, "py", {**data, "title": "Another"})
            return made, second

    made, second = anyio.run(scenario)
    assert len(transport.keys) == 3
    assert transport.keys[0] == transport.keys[1] != transport.keys[2]
    assert transport.keys[0] is not None
    titles = sorted(e["title"] for e in listed(server, "/api/v1/experiences"))
    assert titles == ["Another", "Pin torch"]
    assert made["entry"]["id"] != second["entry"]["id"]
