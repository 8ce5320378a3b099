"""The operators' dashboard at /ui, in a real headless Chromium against a real server.

Every number on the page is checked against the admin API it comes from; the page's own
HTML is checked to carry no queue data. A screenshot goes to test-artifacts/dashboard.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.support.browser import chromium, watched_page
from tests.support.embedders import ScriptedEmbedder
from tests.support.server import LiveServer
from tests.support.wait import wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips (or fails under CI=true)
    expect = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-admin-token"
WAIT_MS = 20_000


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with watched_page(browser, height=900, timeout_ms=WAIT_MS) as opened:
        yield opened


@pytest.fixture
def scripted_server(
    settings_factory: Callable[..., Settings],
) -> Iterator[tuple[LiveServer, ScriptedEmbedder]]:
    """Two workers and an embedder that refuses texts containing POISON, until healed."""
    embedder = ScriptedEmbedder()
    settings = settings_factory(num_embedding_workers=2)
    server = LiveServer(settings, runtime=Runtime.build(settings, embedder=embedder))
    server.start()
    yield server, embedder
    server.stop()


# ---- helpers -----------------------------------------------------------------------------


def make_entries(server: LiveServer, titles: list[str], *, word: str = "queue") -> list[str]:
    client = server.client
    if client.get("/api/v1/categories/ops").status_code == 404:
        client.post("/api/v1/categories", json={"code": "ops", "name": "Operations"})
    ids = []
    for title in titles:
        body = {
            "category": "ops",
            "section": "useful",
            "title": title,
            "playbook": f"{title}: watch the {word} before you change anything.",
        }
        response = client.post("/api/v1/experiences", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def login(page: Any, server: LiveServer, token: str = TOKEN) -> None:
    page.goto(f"{server.url}/ui")
    page.fill("#token", token)
    page.click("#login-button")


def cell(page: Any, status: str) -> Any:
    return page.locator(f"#queue-table tr[data-status={status}] td.total")


def admin_status(server: LiveServer) -> dict[str, Any]:
    result: dict[str, Any] = server.admin.get("/admin/queue/status").json()
    return result


def entry_status(server: LiveServer, entry_id: str) -> str:
    status: str = server.client.get(f"/api/v1/experiences/{entry_id}").json()["embedding_status"]
    return status


def save_screenshot(page: Any) -> None:
    artifact = ROOT / "test-artifacts" / "dashboard.png"
    artifact.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(artifact), full_page=True)
    assert artifact.stat().st_size > 10_000
    # The README's copy is refreshed only on request, so a test run leaves the tree clean.
    docs = ROOT / "docs" / "dashboard.png"
    if not docs.exists() or os.environ.get("HEURIST_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(artifact, docs)


# ---- the page without a token ------------------------------------------------------------


def test_page_carries_no_queue_data(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    [entry_id] = make_entries(server, ["Secret title that must not leak"])
    response = server.client.get("/ui")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert 'id="login-form"' in response.text
    assert entry_id not in response.text and "Secret title" not in response.text
    assert "cdn" not in response.text.lower() and "https://" not in response.text
    for name, kind in [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")]:
        asset = server.client.get(f"/ui/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert server.client.get("/ui/static/routes.py").status_code == 404
    assert server.client.get("/ui/static/..%2Froutes.py").status_code == 404


def test_login_is_required_and_kept_per_tab(
    page: Any, server_factory: Callable[..., LiveServer]
) -> None:
    server = server_factory()
    make_entries(server, ["One entry"])
    login(page, server, token="wrong-token")
    expect(page.locator("#login-error")).to_contain_text("refused")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.locator("#queue-table tbody tr").count() == 0
    assert page.evaluate("sessionStorage.getItem('heurist.adminToken')") is None

    login(page, server)
    expect(page.locator("#dashboard")).to_be_visible()
    expect(cell(page, "pending")).to_have_text("1")
    page.reload()  # the token stays in this tab's sessionStorage
    expect(cell(page, "pending")).to_have_text("1")
    expect(page.locator("#login")).to_be_hidden()

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.locator("#queue-table tbody tr").count() == 0
    assert page.evaluate("sessionStorage.getItem('heurist.adminToken')") is None


# ---- watching and steering the queue -----------------------------------------------------


def test_queue_numbers_move_with_pause_resume_and_drain(
    page: Any, server_factory: Callable[..., LiveServer]
) -> None:
    server = server_factory(num_embedding_workers=2)
    login(page, server)
    expect(page.locator("#paused-badge")).to_have_text("running")
    expect(page.locator("#workers-table tbody tr")).to_have_count(2)
    expect(page.locator("#workers-table tbody tr td:nth-child(2)").first).to_have_text("yes")

    page.click("button[data-action=pause]")
    expect(page.locator("#paused-badge")).to_have_text("paused")
    assert admin_status(server)["paused"] is True

    make_entries(server, [f"Entry {i}" for i in range(6)])
    expect(cell(page, "pending")).to_have_text("6")
    expect(cell(page, "embedded")).to_have_text("0")
    expect(page.locator("#oldest-pending")).to_contain_text(" s")
    page.click("button[data-action=drain]")  # refused at once while paused (409)
    expect(page.locator("#action-result")).to_contain_text("paused")
    assert admin_status(server)["queue"]["pending"]["total"] == 6

    page.click("button[data-action=resume]")
    expect(page.locator("#paused-badge")).to_have_text("running")
    assert admin_status(server)["paused"] is False
    expect(cell(page, "embedded")).to_have_text("6")
    expect(cell(page, "pending")).to_have_text("0")
    expect(page.locator("#oldest-pending")).to_have_text("none pending")

    page.click("button[data-action=drain]")
    expect(page.locator("#action-result")).to_contain_text("drained")
    # The charts draw from the samples the page kept: depth rose to 6 and fell back.
    depth = int(page.locator("#chart-depth").get_attribute("data-points") or 0)
    assert depth >= 2
    expect(page.locator("#chart-throughput polyline")).to_have_count(1)


def test_retry_one_failed_entry_then_all(
    page: Any, scripted_server: tuple[LiveServer, ScriptedEmbedder]
) -> None:
    server, embedder = scripted_server
    bad_one, bad_two = make_entries(server, ["POISON first", "POISON second"])
    [good] = make_entries(server, ["Healthy entry"])
    login(page, server)
    expect(page.locator("#failed-count")).to_have_text("2")
    row = page.locator(f"#failed-table tr[data-entry='{bad_one}']")
    expect(row).to_contain_text("poisoned text")
    expect(row.locator("td:nth-child(4)")).to_have_text("1")  # attempts
    assert entry_status(server, good) == "embedded"

    embedder.poison = "\0never"  # the provider is healthy again
    row.locator("button[data-retry-id]").click()
    expect(page.locator("#action-result")).to_contain_text("1 back to pending")
    wait_for(lambda: entry_status(server, bad_one) == "embedded", message="the retried entry")
    assert entry_status(server, bad_two) == "failed"
    expect(page.locator("#failed-count")).to_have_text("1")

    page.click("button[data-action=retry-all]")
    expect(page.locator("#action-result")).to_contain_text("1 failed entries back to pending")
    wait_for(lambda: entry_status(server, bad_two) == "embedded", message="retry all")
    expect(page.locator("#failed-count")).to_have_text("0")
    expect(page.locator("#failed-empty")).to_be_visible()


def test_search_rebuild_and_screenshot(
    page: Any, scripted_server: tuple[LiveServer, ScriptedEmbedder]
) -> None:
    server, _ = scripted_server
    login(page, server)
    embedded = make_entries(server, ["Pin torch", "Warm the model", "Chunk long manuals"])
    for wave in range(3):  # some history for the throughput chart in the screenshot
        page.wait_for_timeout(1600)
        make_entries(server, [f"Wave {wave} note {i}" for i in range(4 + 3 * wave)], word="wave")
    [failed] = make_entries(server, ["POISON entry"], word="model")
    server.wait_embedded()
    expect(cell(page, "embedded")).to_have_text("24")
    expect(page.locator("#failed-count")).to_have_text("1")
    page.click("button[data-action=pause]")
    expect(page.locator("#paused-badge")).to_have_text("paused")
    [pending] = make_entries(server, ["Written while paused"], word="model")
    expect(cell(page, "pending")).to_have_text("1")

    page.fill("#search-q", "model")
    page.select_option("#search-mode", "keyword")
    page.click("#search-form button[type=submit]")
    results = page.locator("#search-results tbody tr")
    expect(results).to_have_count(3)
    expect(page.locator(f"#search-results tr[data-entry='{embedded[1]}']")).to_contain_text(
        "embedded"
    )
    expect(page.locator(f"#search-results tr[data-entry='{pending}']")).to_contain_text("pending")
    expect(page.locator(f"#search-results tr[data-entry='{failed}']")).to_contain_text("failed")

    page.click("button[data-action=rebuild]")
    expect(page.locator("#action-result")).to_contain_text("24 vectors")
    page.wait_for_timeout(2000)  # a few more samples for the charts in the screenshot
    save_screenshot(page)


def test_search_sends_the_data_api_token_when_the_server_requires_one(
    page: Any, server_factory: Callable[..., LiveServer]
) -> None:
    server = server_factory(api_token="data-token")
    server.client.headers["Authorization"] = "Bearer data-token"
    [entry_id] = make_entries(server, ["Guarded entry"])
    login(page, server)  # the admin token only
    page.fill("#search-q", "guarded")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#search-error")).to_contain_text("needs its own token")

    page.click("#logout")
    page.fill("#token", TOKEN)
    page.fill("#api-token", "data-token")
    page.click("#login-button")
    page.fill("#search-q", "guarded")
    page.click("#search-form button[type=submit]")
    expect(page.locator(f"#search-results tr[data-entry='{entry_id}']")).to_contain_text("Guarded")


def test_a_model_change_shows_its_progress_then_the_new_model(
    page: Any, settings_factory: Callable[..., Settings]
) -> None:
    """The store embedded by one model, the server started with another and no workers:
    the page shows the migration (from, to, 0 of N); with a worker it completes and the
    page names the new serving model."""
    old, new = ScriptedEmbedder(32), ScriptedEmbedder(48)
    settings = settings_factory(num_embedding_workers=1)
    first = Runtime.build(settings, embedder=old)
    first.start()
    first.categories.create("ops", "Operations")
    for i in range(5):
        fields = {"category": "ops", "section": "useful", "title": f"t{i}", "playbook": "p"}
        first.entries.create("experience", fields)
    wait_for(lambda: first.queue.counts()["embedded"]["total"] == 5, message="not embedded")
    first.stop()
    idle = settings.model_copy(update={"num_embedding_workers": 0})
    server = LiveServer(idle, runtime=Runtime.build(idle, embedder=new, extra_embedders=[old]))
    server.start()
    try:
        login(page, server)
        expect(page.locator("#serving-model")).to_have_text("hash-32")
        expect(page.locator("#migration")).to_be_visible()
        expect(page.locator("#migration-models")).to_have_text("hash-32 → hash-48")
        expect(page.locator("#migration-count")).to_have_text("0 / 5")
    finally:
        server.stop()
    server = LiveServer(
        settings, runtime=Runtime.build(settings, embedder=new, extra_embedders=[old])
    )
    server.start()
    try:
        login(page, server)
        expect(page.locator("#serving-model")).to_have_text("hash-48")
        expect(page.locator("#migration")).to_be_hidden()
    finally:
        server.stop()
