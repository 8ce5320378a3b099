"""The curated loop over real HTTP, on SQLite and PostgreSQL: review, approve, merge,
history and revert, feedback and the curator's inbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.server import LiveServer
from tests.support.wait import wait_for

CURATOR_ROUTES = {
    ("POST", "/admin/entries/{entry_id}/approve"),
    ("POST", "/admin/entries/{entry_id}/retire"),
    ("POST", "/admin/entries/{entry_id}/merge"),
    ("POST", "/admin/entries/{entry_id}/revert"),
    ("GET", "/admin/curation/inbox"),
}


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    srv = server_factory(num_embedding_workers=1)
    categories = [
        {"code": "ops", "name": "Operations"},
        {"code": "inbox", "name": "Reviewed lessons", "review": True},
    ]
    for body in categories:
        srv.client.post("/api/v1/categories", json=body).raise_for_status()
    return srv


def lesson(server: LiveServer, category: str, title: str, playbook: str) -> dict[str, Any]:
    body = {"category": category, "section": "useful", "title": title, "playbook": playbook}
    response = server.client.post("/api/v1/experiences", json=body)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


def ids(server: LiveServer, q: str, **params: Any) -> list[str]:
    response = server.client.get("/api/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def admin(server: LiveServer, action: str, entry_id: str, **body: Any) -> dict[str, Any]:
    response = server.admin.post(f"/admin/entries/{entry_id}/{action}", json=body or None)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def inbox(server: LiveServer) -> list[dict[str, Any]]:
    response = server.admin.get("/admin/curation/inbox")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_proposed_entry_is_found_only_once_approved(server: LiveServer) -> None:
    kept = lesson(server, "ops", "Pin the torch wheel", "Pin torch to the CUDA build in CI.")
    proposed = lesson(server, "inbox", "Vacuum the queue table", "Run VACUUM weekly on entries.")
    assert kept["state"] == "approved" and proposed["state"] == "proposed"
    assert proposed["feedback"] == {"helpful": 0, "harmful": 0, "outdated": 0}
    assert server.wait_embedded()["status"] == "drained"  # proposed entries are embedded too

    for mode in ("keyword", "semantic", "hybrid"):
        assert proposed["id"] not in ids(server, "vacuum queue table weekly", mode=mode)
    assert ids(server, "vacuum queue table", mode="keyword", state="proposed") == [proposed["id"]]
    assert proposed["id"] in ids(server, "vacuum queue table", mode="keyword", state="any")
    listed = server.client.get("/api/v1/experiences", params={"state": "proposed"}).json()
    assert [e["id"] for e in listed["items"]] == [proposed["id"]]

    assert admin(server, "approve", proposed["id"])["state"] == "approved"
    assert ids(server, "vacuum queue table", mode="keyword")[0] == proposed["id"]
    # The index learns the new state through the change log, like any other filter.
    wait_for(
        lambda: proposed["id"] in ids(server, "vacuum queue table weekly", mode="semantic"),
        timeout=60,
        message="the approved entry never reached semantic search",
    )


def test_inbox_lists_a_near_duplicate_beside_its_twin(server: LiveServer) -> None:
    twin = lesson(
        server, "ops", "Retry with exponential backoff", "Retry failed HTTP calls with backoff."
    )
    copy = lesson(
        server, "inbox", "Retry with exponential backoff", "Retry failed HTTP calls with backoff!"
    )
    lesson(server, "ops", "Label the dashboards", "Every chart names its unit.")
    assert server.wait_embedded()["status"] == "drained"

    def listed() -> dict[str, Any] | None:
        items = [i for i in inbox(server) if i["why"] == "proposed"]
        if not items or not items[0]["duplicates"]:
            return None
        first = items[0]["duplicates"][0]
        return first if "semantic" in first["matched_by"] else None

    wait_for(listed, timeout=60, message="the proposed copy never listed its twin by meaning")
    (item,) = [i for i in inbox(server) if i["why"] == "proposed"]
    assert item["entry"]["id"] == copy["id"]
    best = item["duplicates"][0]
    assert best["id"] == twin["id"] and best["title"] == twin["title"]
    assert best["very_close"] and best["score"] > 0.85
    assert set(best["matched_by"]) == {"keyword", "semantic"}
    assert copy["id"] not in [d["id"] for d in item["duplicates"]]


def test_merge_moves_feedback_and_retires_the_source(server: LiveServer) -> None:
    source = lesson(server, "ops", "Close DB sessions", "Use a context manager for sessions.")
    target = lesson(server, "ops", "Scope DB sessions", "Open one session per request.")
    for outcome in ("helpful", "helpful", "harmful"):
        feedback(server, source["id"], outcome)
    feedback(server, target["id"], "helpful")

    merged = admin(server, "merge", source["id"], into=target["id"])
    assert merged["target"]["feedback"] == {"helpful": 3, "harmful": 1, "outdated": 0}
    read = server.client.get(f"/api/v1/entries/{source['id']}").json()
    assert read["state"] == "retired" and read["superseded_by"] == target["id"]
    assert read["retired_reason"] == f"merged into {target['id']}"
    assert (
        server.client.get(f"/api/v1/experiences/{source['id']}").json()["superseded_by"]
        == (target["id"])
    )
    assert ids(server, "DB sessions", mode="keyword") == [target["id"]]
    late = feedback(server, source["id"], "outdated", note="read before the merge")
    assert late["id"] == target["id"] and late["feedback"]["outdated"] == 1
    assert ids(server, "DB sessions", mode="keyword", state="retired") == [source["id"]]

    again = server.admin.post(f"/admin/entries/{source['id']}/merge", json={"into": target["id"]})
    assert again.status_code == 409
    into_retired = server.admin.post(
        f"/admin/entries/{target['id']}/merge", json={"into": source["id"]}
    )
    assert into_retired.status_code == 409 and "retired" in into_retired.json()["error"]["message"]
    itself = server.admin.post(f"/admin/entries/{target['id']}/merge", json={"into": target["id"]})
    assert itself.status_code == 422
    missing = server.admin.post(f"/admin/entries/{target['id']}/merge", json={"into": "nope"})
    assert missing.status_code == 404
    unmerge = server.admin.post(f"/admin/entries/{source['id']}/approve")
    assert unmerge.status_code == 409 and target["id"] in unmerge.json()["error"]["message"]


def test_retire_hides_an_entry_and_approve_brings_it_back(server: LiveServer) -> None:
    entry = lesson(server, "ops", "Use tmpfs for tests", "Mount a tmpfs for the test database.")
    retired = admin(server, "retire", entry["id"], reason="we moved to containers")
    assert retired["state"] == "retired" and retired["retired_reason"] == "we moved to containers"
    assert ids(server, "tmpfs test database", mode="keyword") == []
    back = admin(server, "approve", entry["id"])
    assert back["state"] == "approved" and back["retired_reason"] is None
    assert ids(server, "tmpfs test database", mode="keyword") == [entry["id"]]


def feedback(server: LiveServer, entry_id: str, outcome: str, **extra: Any) -> dict[str, Any]:
    body = {"outcome": outcome, **extra}
    response = server.client.post(f"/api/v1/entries/{entry_id}/feedback", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_history_records_every_change_and_revert_restores(server: LiveServer) -> None:
    entry = lesson(server, "ops", "Cache pip wheels", "Cache ~/.cache/pip between CI runs.")
    path = f"/api/v1/experiences/{entry['id']}"
    server.client.patch(path, json={"title": "Cache pip and uv wheels"}).raise_for_status()
    server.client.patch(path, json={"playbook": "Cache both.", "author": "ana"}).raise_for_status()
    server.client.patch(path, json={"playbook": "Cache both."}).raise_for_status()  # no change

    revisions = server.client.get(f"/api/v1/entries/{entry['id']}/history").json()["revisions"]
    assert [r["revision"] for r in revisions] == [3, 2, 1]
    assert [r["action"] for r in revisions] == ["update", "update", "create"]
    assert revisions[0]["author"] == "ana" and revisions[0]["fields"]["playbook"] == "Cache both."
    assert revisions[2]["fields"]["title"] == "Cache pip wheels"

    reverted = admin(server, "revert", entry["id"], revision=1)
    assert reverted["title"] == "Cache pip wheels"
    assert reverted["playbook"] == "Cache ~/.cache/pip between CI runs."
    assert reverted["embedding_status"] == "pending"  # the embedded text changed back
    newest = server.client.get(f"/api/v1/entries/{entry['id']}/history").json()["revisions"][0]
    assert (newest["revision"], newest["action"], newest["author"]) == (4, "revert", "curator")
    assert newest["fields"]["author"] is None

    missing = server.admin.post(f"/admin/entries/{entry['id']}/revert", json={"revision": 9})
    assert missing.status_code == 404 and "revisions 1 to 4" in missing.json()["error"]["message"]
    assert server.admin.post(f"/admin/entries/{entry['id']}/revert", json={}).status_code == 422
    assert server.client.get("/api/v1/entries/nope/history").status_code == 404


def test_feedback_counts_and_the_flagged_list(server: LiveServer) -> None:
    entry = lesson(server, "ops", "Use Python 3.8", "Target 3.8 for the wheels.")
    fine = lesson(server, "ops", "Pin ruff", "Pin ruff in pyproject.")
    feedback(server, fine["id"], "helpful")
    answer = feedback(server, entry["id"], "outdated", note="3.8 is end of life", author="bo")
    assert answer["feedback"] == {"helpful": 0, "harmful": 0, "outdated": 1}

    flagged = [i for i in inbox(server) if i["why"] == "flagged"]
    assert [i["entry"]["id"] for i in flagged] == [entry["id"]]
    (note,) = flagged[0]["notes"]
    assert (note["outcome"], note["note"], note["author"]) == (
        "outdated",
        "3.8 is end of life",
        "bo",
    )

    later = lesson(server, "ops", "Avoid mutable defaults", "Use None and build inside.")
    feedback(server, later["id"], "harmful")
    assert [i["entry"]["id"] for i in inbox(server) if i["why"] == "flagged"] == [
        later["id"],
        entry["id"],
    ]

    bad = server.client.post(f"/api/v1/entries/{entry['id']}/feedback", json={"outcome": "meh"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "outcome"
    long_note = {"outcome": "helpful", "note": "x" * 2001}
    too_long = server.client.post(f"/api/v1/entries/{entry['id']}/feedback", json=long_note)
    assert too_long.status_code == 422 and too_long.json()["error"]["details"][0]["limit"] == 2000
    gone = server.client.post("/api/v1/entries/nope/feedback", json={"outcome": "helpful"})
    assert gone.status_code == 404
    assert server.client.get(f"/api/v1/entries/{entry['id']}").json()["feedback"]["outdated"] == 1


def test_review_flag_is_set_on_create_and_patch(server: LiveServer) -> None:
    assert server.client.get("/api/v1/categories/inbox").json()["review"] is True
    changed = server.client.patch("/api/v1/categories/ops", json={"review": True})
    assert changed.status_code == 200 and changed.json()["review"] is True
    assert lesson(server, "ops", "Now reviewed", "Proposed first.")["state"] == "proposed"
    assert server.client.patch("/api/v1/categories/nope", json={"review": True}).status_code == 404
    cleared = server.client.patch("/api/v1/categories/ops", json={"name": None})
    assert cleared.status_code == 422
    assert server.client.patch("/api/v1/categories/ops", json={"x": 1}).status_code == 422


def test_curator_routes_refuse_missing_and_wrong_tokens(server: LiveServer) -> None:
    spec = server.client.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert routes >= CURATOR_ROUTES
    entry = lesson(server, "ops", "Guarded", "Only curators change state.")
    for method, path in CURATOR_ROUTES:
        url = path.replace("{entry_id}", entry["id"])
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = server.client.request(method, url, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
    assert server.client.get(f"/api/v1/entries/{entry['id']}").json()["state"] == "approved"
