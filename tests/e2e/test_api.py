"""The HTTP API against a real uvicorn server: CRUD, bad input, pagination, search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.server import LiveServer

EXP = {"category": "py", "section": "useful", "title": "Pin torch", "playbook": "Pin it to 2.13."}


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    srv = server_factory(num_embedding_workers=1)
    assert (
        srv.client.post("/api/v1/categories", json={"code": "py", "name": "Python"}).status_code
        == 201
    )
    return srv


def count(server: LiveServer, plural: str) -> int:
    return len(server.client.get(f"/api/v1/{plural}", params={"limit": 500}).json()["items"])


def test_health_reports_the_database(server: LiveServer) -> None:
    body = server.client.get("/health").json()
    assert body["database"]["ok"] is True
    assert body["status"] in ("ok", "degraded")


def test_experience_crud(server: LiveServer) -> None:
    c = server.client
    created = c.post("/api/v1/experiences", json=EXP)
    assert created.status_code == 201
    entry = created.json()
    assert entry["embedding_status"] == "pending"
    assert c.get(f"/api/v1/experiences/{entry['id']}").json()["title"] == "Pin torch"
    patched = c.patch(f"/api/v1/experiences/{entry['id']}", json={"title": "Pin torch 2.13"})
    assert patched.status_code == 200 and patched.json()["revision"] == 2
    assert c.delete(f"/api/v1/experiences/{entry['id']}").status_code == 204
    assert c.get(f"/api/v1/experiences/{entry['id']}").status_code == 404
    assert c.delete(f"/api/v1/experiences/{entry['id']}").status_code == 404


def test_manual_crud_and_kind_separation(server: LiveServer) -> None:
    c = server.client
    manual = c.post(
        "/api/v1/manuals", json={"category": "py", "title": "Guide", "content": "Para one.\n\nTwo."}
    ).json()
    assert c.get(f"/api/v1/manuals/{manual['id']}").status_code == 200
    assert c.get(f"/api/v1/experiences/{manual['id']}").status_code == 404
    assert (
        c.patch(f"/api/v1/manuals/{manual['id']}", json={"author": "ana"}).json()["revision"] == 1
    )


BAD_EXPERIENCES: list[tuple[str, Any, int, str]] = [
    ("unknown category", EXP | {"category": "nope"}, 422, "category"),
    ("bad section", EXP | {"section": "great"}, 422, "section"),
    ("contextual without context", EXP | {"section": "contextual"}, 422, "context"),
    ("NUL byte", EXP | {"playbook": "a\x00b"}, 422, "playbook"),
    ("wrong type", EXP | {"title": 42}, 422, "title"),
    ("title too long", EXP | {"title": "x" * 301}, 422, "title"),
    ("playbook too long", EXP | {"playbook": "x" * 10_001}, 422, "playbook"),
    ("missing field", {k: v for k, v in EXP.items() if k != "playbook"}, 422, "playbook"),
    ("unknown field", EXP | {"colour": "red"}, 422, "colour"),
    ("blank title", EXP | {"title": "   "}, 422, "title"),
    ("not an object", [1, 2], 422, "body"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_EXPERIENCES)
def test_bad_input_is_4xx_naming_the_field_and_writes_nothing(
    server: LiveServer, case: str, body: Any, status: int, field: str
) -> None:
    response = server.client.post("/api/v1/experiences", json=body)
    assert response.status_code == status, case
    error = response.json()["error"]
    assert field in error["message"] or field in str(error["details"]), error
    assert count(server, "experiences") == 0


def test_malformed_json_is_400(server: LiveServer) -> None:
    response = server.client.post(
        "/api/v1/experiences", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert count(server, "experiences") == 0


def test_body_over_the_limit_is_413(server: LiveServer) -> None:
    response = server.client.post(
        "/api/v1/manuals", json={"category": "py", "title": "big", "content": "x" * 1_100_000}
    )
    assert response.status_code == 413
    assert response.json()["error"]["details"]["limit"] == 1_000_000
    assert count(server, "manuals") == 0


def test_limit_errors_name_the_limit(server: LiveServer) -> None:
    response = server.client.post("/api/v1/experiences", json=EXP | {"title": "x" * 301})
    details = response.json()["error"]["details"]
    assert details[0]["field"] == "title" and details[0]["limit"] == 300


def test_patch_cannot_clear_a_required_field(server: LiveServer) -> None:
    entry = server.client.post("/api/v1/experiences", json=EXP).json()
    response = server.client.patch(f"/api/v1/experiences/{entry['id']}", json={"title": None})
    assert response.status_code == 422
    assert server.client.get(f"/api/v1/experiences/{entry['id']}").json()["title"] == "Pin torch"


def test_list_pagination_and_page_size_limit(server: LiveServer) -> None:
    made = {
        server.client.post("/api/v1/experiences", json=EXP | {"title": f"t{i}"}).json()["id"]
        for i in range(12)
    }
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = server.client.get("/api/v1/experiences", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 12
    too_big = server.client.get("/api/v1/experiences", params={"limit": 501})
    assert too_big.status_code == 422 and "limit" in too_big.json()["error"]["message"]


def test_categories_with_counts(server: LiveServer) -> None:
    server.client.post("/api/v1/experiences", json=EXP)
    cat = server.client.get("/api/v1/categories/py").json()
    assert cat["counts"] == {"experience": 1, "manual": 0}
    dup = server.client.post("/api/v1/categories", json={"code": "py", "name": "Again"})
    assert dup.status_code == 409
    bad = server.client.post("/api/v1/categories", json={"code": "Not A Slug", "name": "x"})
    assert bad.status_code == 422
    assert server.client.get("/api/v1/categories/zzz").status_code == 404


def test_keyword_search_reads_its_own_writes(server: LiveServer) -> None:
    server.runtime.queue.pause()  # keep the entry pending: keyword must still find it
    entry = server.client.post(
        "/api/v1/experiences", json=EXP | {"title": "Quarantine flaky integration tests"}
    ).json()
    found = server.client.get("/api/v1/search", params={"q": "flaky quarantine", "mode": "keyword"})
    results = found.json()["results"]
    assert [r["id"] for r in results] == [entry["id"]]
    assert results[0]["embedding_status"] == "pending"
    assert results[0]["matched_by"] == ["keyword"]


def test_semantic_search_after_embedding(server: LiveServer) -> None:
    entry = server.client.post("/api/v1/experiences", json=EXP).json()
    assert server.wait_embedded()["status"] == "drained"
    server.runtime.index_sync.sync()
    body = server.client.get("/api/v1/search", params={"q": "Pin torch", "mode": "semantic"}).json()
    assert body["results"][0]["id"] == entry["id"]
    assert body["results"][0]["embedding_status"] == "embedded"


def test_search_rejects_bad_parameters(server: LiveServer) -> None:
    c = server.client
    assert c.get("/api/v1/search", params={"q": ""}).status_code == 422
    assert c.get("/api/v1/search", params={"q": "x", "mode": "magic"}).status_code == 422
    assert c.get("/api/v1/search", params={"q": "x", "limit": 1000}).status_code == 422
    assert c.get("/api/v1/search", params={"q": "x" * 1001}).status_code == 422
