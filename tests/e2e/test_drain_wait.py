"""Waiting requests cannot starve the server (issue 13, class 7): drains wait without a
thread each and are bounded (429 past the limit); GET /mcp holds no stream open."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from heurist.api.drain_wait import DRAIN_WAITERS_MAX, DrainWaiters
from tests.support.server import LiveServer
from tests.support.wait import wait_for

Server = Callable[..., LiveServer]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Waiting is the event loop's business, not the database's: SQLite only."""
    return f"sqlite:///{tmp_path / 'heurist.db'}"


def test_many_drains_wait_without_starving_the_server(server_factory: Server) -> None:
    server = server_factory(num_embedding_workers=0)  # nothing embeds: drains must wait
    assert server.client.post("/api/v1/categories", json={"code": "py", "name": "P"}).is_success
    body = {"category": "py", "section": "useful", "title": "T", "playbook": "P"}
    entry = server.client.post("/api/v1/experiences", json=body).json()["id"]
    waiters: DrainWaiters = server.app.state.drain_waiters
    headers = {"Authorization": f"Bearer {server.settings.admin_token}"}

    def drain() -> httpx.Response:
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            return client.post("/admin/queue/drain", params={"timeout": 100})

    with ThreadPoolExecutor(DRAIN_WAITERS_MAX) as pool:
        pending = [pool.submit(drain) for _ in range(DRAIN_WAITERS_MAX)]
        wait_for(
            lambda: waiters.waiting == DRAIN_WAITERS_MAX,
            timeout=60,
            message="the drains did not all start waiting",
        )
        # Sync routes (a pool thread each) and /health still answer while they wait.
        assert server.client.get("/api/v1/categories").status_code == 200
        assert server.client.get("/health").status_code == 200
        assert server.client.get(f"/api/v1/experiences/{entry}").status_code == 200
        refused = server.admin.post("/admin/queue/drain", params={"timeout": 100})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_busy"
        assert refused.headers["Retry-After"]

        assert server.client.delete(f"/api/v1/experiences/{entry}").status_code == 204
        answers = [future.result() for future in pending]
    assert [a.json()["status"] for a in answers] == ["drained"] * DRAIN_WAITERS_MAX
    assert waiters.waiting == 0


def test_get_mcp_opens_no_endless_stream(server_factory: Server) -> None:
    server = server_factory()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/mcp", headers={"Accept": "text/event-stream"})
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
