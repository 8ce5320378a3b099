"""GET /api/v1/search over real HTTP: the result contract, modes, fusion, filters, pending rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.server import LiveServer
from tests.support.wait import wait_for

FIELDS = {"id", "kind", "category", "title", "score", "snippet", "embedding_status", "matched_by"}


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    srv = server_factory(num_embedding_workers=1)
    for code in ("ops", "docs"):
        srv.client.post("/api/v1/categories", json={"code": code, "name": code}).raise_for_status()
    return srv


def post(server: LiveServer, plural: str, body: dict[str, Any]) -> str:
    response = server.client.post(f"/api/v1/{plural}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def search(server: LiveServer, **params: Any) -> dict[str, Any]:
    response = server.client.get("/api/v1/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fill(server: LiveServer) -> tuple[str, str]:
    exp = post(
        server,
        "experiences",
        {
            "category": "ops",
            "section": "harmful",
            "title": "Never retry without backoff",
            "playbook": "Retrying in a tight loop turns a blip into an outage.",
        },
    )
    manual = post(
        server,
        "manuals",
        {
            "category": "docs",
            "title": "Retry guide",
            "summary": "How we retry",
            "content": "Retry idempotent calls with exponential backoff and jitter.",
        },
    )
    assert server.wait_embedded()["status"] == "drained"
    return exp, manual


def wait_indexed(server: LiveServer, query: str, count: int) -> None:
    def indexed() -> bool:
        server.runtime.index_sync.sync()
        return len(search(server, q=query, mode="semantic")["results"]) >= count

    wait_for(indexed, message="the index never caught up")


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_every_mode_returns_the_contract_fields(server: LiveServer, mode: str) -> None:
    exp, manual = fill(server)
    wait_indexed(server, "retry backoff", 2)
    body = search(server, q="retry backoff", mode=mode)
    assert body["mode"] == mode
    results = body["results"]
    assert {r["id"] for r in results} == {exp, manual}
    for result in results:
        assert set(result) >= FIELDS
        assert result["embedding_status"] == "embedded"
        assert mode == "hybrid" or result["matched_by"] == [mode]
    by_id = {r["id"]: r for r in results}
    assert by_id[exp]["kind"] == "experience" and by_id[exp]["category"] == "ops"
    assert by_id[manual]["kind"] == "manual" and by_id[manual]["category"] == "docs"
    assert not by_id[manual]["snippet"].startswith("Retry guide")  # no title prefix


def test_hybrid_is_the_default_and_names_its_fusion(server: LiveServer) -> None:
    fill(server)
    wait_indexed(server, "retry backoff", 2)
    body = search(server, q="retry backoff")
    assert body["mode"] == "hybrid" and body["fusion"] in ("rrf", "minmax")
    assert sorted(body["results"][0]["matched_by"]) == ["keyword", "semantic"]
    for fusion in ("rrf", "minmax"):
        assert search(server, q="retry backoff", fusion=fusion)["fusion"] == fusion


def test_filters_apply_in_every_mode(server: LiveServer) -> None:
    exp, manual = fill(server)
    wait_indexed(server, "retry backoff", 2)
    for mode in ("hybrid", "semantic", "keyword"):
        only_manuals = search(server, q="retry backoff", mode=mode, kind="manual")["results"]
        assert [r["id"] for r in only_manuals] == [manual]
        harmful = search(server, q="retry backoff", mode=mode, section="harmful")["results"]
        assert [r["id"] for r in harmful] == [exp]
        assert search(server, q="retry backoff", mode=mode, category="nope")["results"] == []


def test_a_pending_entry_is_found_by_the_default_search(server: LiveServer) -> None:
    server.admin.post("/admin/queue/pause").raise_for_status()
    entry = post(
        server,
        "experiences",
        {
            "category": "ops",
            "section": "useful",
            "title": "Rotate the signing keys",
            "playbook": "Rotate every 90 days.",
        },
    )
    results = search(server, q="rotate signing keys")["results"]
    assert [r["id"] for r in results] == [entry]
    assert results[0]["embedding_status"] == "pending"
    assert results[0]["matched_by"] == ["keyword"]


def test_a_repeated_query_hits_the_embedding_cache(server: LiveServer) -> None:
    cache = server.runtime.search.cache
    search(server, q="a question never asked before", mode="semantic")
    hits = cache.hits
    search(server, q="a question never asked before", mode="hybrid")
    assert cache.hits == hits + 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x", "mode": "fuzzy"}, "mode"),
        ({"q": "x", "fusion": "borda"}, "fusion"),
        ({"q": "x", "limit": 101}, "limit"),
        ({"q": ""}, "q"),
    ],
)
def test_bad_parameters_are_named(server: LiveServer, params: dict[str, Any], field: str) -> None:
    response = server.client.get("/api/v1/search", params=params)
    assert response.status_code == 422
    assert field in response.text and "error" in response.json()
