"""The ``heurist`` command line as a subprocess against a live server, and its exit codes.

Exit codes: 0 success, 1 not done (drain timeout), 2 bad usage, 3 server unreachable,
4 refused (unauthorized, or the queue is paused).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.poison import PoisonEmbedder
from tests.support.server import LiveServer, free_port

HEURIST = str(Path(sys.executable).with_name("heurist"))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The CLI does not depend on the database: SQLite only, to keep this module quick."""
    return f"sqlite:///{tmp_path / 'heurist.db'}"


@pytest.fixture
def live(server_factory: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    def make(**overrides: object) -> LiveServer:
        server = server_factory(embedder=PoisonEmbedder(), **overrides)
        server.client.post("/api/v1/categories", json={"code": "py", "name": "Python"})
        return server

    return make


def env(server: LiveServer | None, *, token: bool = True, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("HEURIST_")}
    out["COLUMNS"] = "200"  # rich tables wide enough to hold full ids
    if server is not None:
        out["HEURIST_API_URL"] = server.url
        out["HEURIST_DATA_DIR"] = str(server.settings.data_dir)
        if token and server.settings.admin_token:
            out["HEURIST_ADMIN_TOKEN"] = server.settings.admin_token
    return out | extra


def heurist(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEURIST, *args], env=environ, capture_output=True, text=True, timeout=120
    )


def add(server: LiveServer, title: str) -> str:
    body = {"category": "py", "section": "useful", "title": title, "playbook": "Pin it."}
    return str(server.client.post("/api/v1/experiences", json=body).json()["id"])


def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    environ = env(None, HEURIST_API_URL=f"http://127.0.0.1:{free_port()}",
                  HEURIST_DATA_DIR=str(tmp_path), HEURIST_ADMIN_TOKEN="x")  # fmt: skip
    for args in (("queue", "status"), ("queue", "drain"), ("search", "torch")):
        result = heurist(*args, environ=environ)
        assert result.returncode == 3, (args, result.stderr)
        assert "cannot reach the heurist server" in result.stderr


def test_status_pause_drain_resume(live: Callable[..., LiveServer]) -> None:
    server = live(num_embedding_workers=1)
    add(server, "Pin torch")
    environ = env(server)
    status = heurist("queue", "status", environ=environ)
    assert status.returncode == 0, status.stderr
    assert "queue (running)" in status.stdout and "workers" in status.stdout
    assert heurist("queue", "pause", environ=environ).stdout.strip() == "queue paused"
    assert "PAUSED" in heurist("queue", "status", environ=environ).stdout
    drain = heurist("queue", "drain", "--timeout", "60", environ=environ)
    assert drain.returncode == 4
    assert "paused" in drain.stderr
    assert heurist("queue", "resume", environ=environ).stdout.strip() == "queue resumed"
    drained = heurist("queue", "drain", "--timeout", "60", environ=environ)
    assert (drained.returncode, drained.stdout.strip()) == (0, "drained")
    as_json = heurist("queue", "status", "--json", environ=environ)
    assert '"embedded"' in as_json.stdout and as_json.returncode == 0


def test_drain_timeout_exits_1(live: Callable[..., LiveServer]) -> None:
    server = live()  # no workers: the entry stays pending
    add(server, "Pin torch")
    result = heurist("queue", "drain", "--timeout", "0.3", environ=env(server))
    assert result.returncode == 1
    assert "timeout: 1 entries remain" in result.stderr


def test_failed_listing_retry_by_ids_and_requeue_stale(live: Callable[..., LiveServer]) -> None:
    server = live(num_embedding_workers=1)
    bad = [add(server, "poison one"), add(server, "poison two")]
    server.wait_embedded()
    environ = env(server)
    listing = heurist("queue", "failed", environ=environ)
    assert listing.returncode == 0, listing.stderr
    assert "2 failed entries" in listing.stdout
    assert all(entry_id in listing.stdout for entry_id in bad)
    assert "PermanentEmbeddingError" in listing.stdout
    heurist("queue", "pause", environ=environ)
    retried = heurist("queue", "retry-failed", "--ids", bad[0], environ=environ)
    assert retried.stdout.strip() == "1 entries moved back to pending"
    again = heurist("queue", "retry-failed", "--kind", "manual", environ=environ)
    assert again.stdout.strip() == "0 entries moved back to pending"
    stale = heurist("queue", "requeue-stale", environ=environ)
    assert (stale.returncode, stale.stdout.strip()) == (0, "0 entries moved back to pending")
    assert server.admin.get("/admin/queue/status").json()["queue"]["failed"]["total"] == 1


def test_search_prints_a_table(live: Callable[..., LiveServer]) -> None:
    server = live(num_embedding_workers=1)
    add(server, "Pin torch to the CPU wheel")
    server.wait_embedded()
    result = heurist("search", "torch", "--mode", "keyword", environ=env(server))
    assert result.returncode == 0, result.stderr
    assert "Pin torch to the CPU wheel" in result.stdout and "1 results" in result.stdout


def test_token_is_found_in_the_data_dir_and_a_wrong_one_exits_4(
    live: Callable[..., LiveServer],
) -> None:
    server = live(admin_token=None)
    found = heurist("queue", "status", environ=env(server, token=False))
    assert found.returncode == 0, found.stderr
    wrong = heurist("queue", "status", environ=env(server, HEURIST_ADMIN_TOKEN="wrong"))
    assert wrong.returncode == 4
    assert "401" in wrong.stderr


def test_serve_refuses_a_public_host_without_a_token(tmp_path: Path) -> None:
    environ = env(None, HEURIST_DATA_DIR=str(tmp_path), HEURIST_EMBEDDING_PROVIDER="hash")
    result = heurist("serve", "--host", "0.0.0.0", "--port", str(free_port()), environ=environ)
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 without HEURIST_ADMIN_TOKEN" in " ".join(result.stderr.split())


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    environ = env(None, HEURIST_DATA_DIR=str(tmp_path), HEURIST_PORT="99999")
    result = heurist("queue", "status", environ=environ)
    assert result.returncode == 2
    assert "HEURIST_PORT" in result.stderr
