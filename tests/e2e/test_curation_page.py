"""The curation page at /ui/curation, in a real headless Chromium against a real server:
the inbox shows each proposed entry beside its twin, and its buttons approve, merge,
retire and revert through the admin API. A screenshot goes to test-artifacts/curation.png
(and to docs/curation.png, which the README shows, when missing or on request)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium, watched_page
from tests.support.server import LiveServer
from tests.support.wait import wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or fails under CI=true)
    expect = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-admin-token"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with watched_page(browser, height=1000, timeout_ms=WAIT_MS) as opened:
        yield opened


def lesson(server: LiveServer, category: str, title: str, playbook: str) -> str:
    body = {"category": category, "section": "useful", "title": title, "playbook": playbook}
    response = server.client.post("/api/v1/experiences", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def entry(server: LiveServer, entry_id: str) -> dict[str, Any]:
    result: dict[str, Any] = server.client.get(f"/api/v1/entries/{entry_id}").json()
    return result


def twin_found_by_meaning(server: LiveServer, copy: str, twin: str) -> bool:
    items = server.admin.get("/admin/curation/inbox").json()["items"]
    for item in items:
        if item["entry"]["id"] == copy:
            return any(
                d["id"] == twin and "semantic" in d["matched_by"] for d in item["duplicates"]
            )
    return False


@pytest.fixture
def store(server_factory: Callable[..., LiveServer]) -> tuple[LiveServer, dict[str, str]]:
    server = server_factory(num_embedding_workers=1)
    for body in (
        {"code": "ops", "name": "Ops"},
        {"code": "inbox", "name": "Inbox", "review": True},
    ):
        server.client.post("/api/v1/categories", json=body).raise_for_status()
    ids = {
        "twin": lesson(
            server, "ops", "Retry with exponential backoff", "Retry failed calls with backoff."
        ),
        "copy": lesson(
            server, "inbox", "Retry with exponential backoff", "Retry failed calls with backoff!"
        ),
        "fresh": lesson(server, "inbox", "Vacuum the queue table", "Run VACUUM weekly."),
        "stale": lesson(server, "ops", "Target Python 3.8", "Build the wheels for 3.8."),
    }
    feedback = {"outcome": "outdated", "note": "3.8 is end of life", "author": "bo"}
    server.client.post(f"/api/v1/entries/{ids['stale']}/feedback", json=feedback)
    stale = f"/api/v1/experiences/{ids['stale']}"
    server.client.patch(stale, json={"title": "Target Python 3.9"}).raise_for_status()
    assert server.wait_embedded()["status"] == "drained"
    wait_for(
        lambda: twin_found_by_meaning(server, ids["copy"], ids["twin"]),
        timeout=60,
        message="the inbox never listed the copy's twin by meaning",
    )
    return server, ids


def save_screenshot(page: Any) -> None:
    artifact = ROOT / "test-artifacts" / "curation.png"
    artifact.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(artifact), full_page=True)
    assert artifact.stat().st_size > 10_000
    docs = ROOT / "docs" / "curation.png"
    if not docs.exists() or os.environ.get("HEURIST_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(artifact, docs)


def test_curator_works_the_inbox_in_the_browser(
    page: Any, store: tuple[LiveServer, dict[str, str]]
) -> None:
    server, ids = store
    page.goto(f"{server.url}/ui/curation")
    page.fill("#token", TOKEN)
    page.click("#login-button")

    copy = page.locator(f"#proposed .item[data-entry='{ids['copy']}']")
    expect(copy.locator(f"tr[data-twin='{ids['twin']}']")).to_contain_text("very close")
    expect(page.locator("#proposed .item")).to_have_count(2)
    stale = page.locator(f"#flagged .item[data-entry='{ids['stale']}']")
    expect(stale).to_contain_text("3.8 is end of life")
    expect(stale).to_contain_text("outdated 1")
    save_screenshot(page)

    # History and revert of the flagged entry.
    stale.locator("button[data-act=history]").click()
    expect(page.locator("#history-table tbody tr")).to_have_count(2)
    page.click("#history-table button[data-revision='1']")
    expect(page.locator("#action-result")).to_contain_text("reverted")
    expect(page.locator("#history-table tbody tr")).to_have_count(3)
    assert entry(server, ids["stale"])["title"] == "Target Python 3.8"
    # The revert's own redraw of the inbox comes last: the next clicks wait for it.
    page.wait_for_load_state("networkidle")

    # Retire it with a reason, approve the fresh proposal, merge the copy into its twin.
    stale.locator("input[data-reason]").fill("we build for 3.12 now")
    stale.locator("button[data-act=retire]").click()
    expect(page.locator(f"#flagged .item[data-entry='{ids['stale']}']")).to_have_count(0)
    retired = entry(server, ids["stale"])
    assert (retired["state"], retired["retired_reason"]) == ("retired", "we build for 3.12 now")

    page.locator(f"#proposed .item[data-entry='{ids['fresh']}'] button[data-act=approve]").click()
    expect(page.locator(f"#proposed .item[data-entry='{ids['fresh']}']")).to_have_count(0)
    assert entry(server, ids["fresh"])["state"] == "approved"

    copy.locator(f"tr[data-twin='{ids['twin']}'] button[data-act=merge]").click()
    expect(page.locator("#action-result")).to_contain_text("merged")
    expect(page.locator("#proposed-empty")).to_be_visible()
    merged = entry(server, ids["copy"])
    assert (merged["state"], merged["superseded_by"]) == ("retired", ids["twin"])

    # Any entry's history, by id.
    page.fill("#history-id", ids["twin"])
    page.click("#history-form button")
    expect(page.locator("#history-title")).to_have_text("Retry with exponential backoff")
    expect(page.locator("#history-table tbody tr")).to_have_count(1)
    page.fill("#history-id", "no-such-entry")
    page.click("#history-form button")
    expect(page.locator("#action-result")).to_contain_text("does not exist")


def test_the_queue_page_links_to_curation(
    page: Any, server_factory: Callable[..., LiveServer]
) -> None:
    server = server_factory()
    response = server.client.get("/ui/curation")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(f"{server.url}/ui")
    page.click("a[href='/ui/curation']")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#token", "wrong")
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("refused")
