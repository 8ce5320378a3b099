"""The curated loop from the ``heurist`` command: search by state, export with history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.server import LiveServer

HEURIST = str(Path(sys.executable).with_name("heurist"))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The CLI does not depend on the database: SQLite only, to keep this module quick."""
    return f"sqlite:///{tmp_path / 'heurist.db'}"


def heurist(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEURIST_")}
    environ |= {
        "COLUMNS": "200",
        "HEURIST_API_URL": server.url,
        "HEURIST_DATA_DIR": str(server.settings.data_dir),
        "HEURIST_DATABASE_URL": str(server.settings.resolved_database_url),
    }
    return subprocess.run(
        [HEURIST, *args], env=environ, capture_output=True, text=True, timeout=120
    )


def test_search_by_state_and_export_with_history(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory()
    body = {"code": "ci", "name": "CI", "review": True}
    server.client.post("/api/v1/categories", json=body).raise_for_status()
    entry = {"category": "ci", "section": "useful", "title": "Cache the wheels", "playbook": "Do."}
    entry_id = server.client.post("/api/v1/experiences", json=entry).json()["id"]

    hidden = heurist(server, "search", "wheels", "--mode", "keyword")
    assert hidden.returncode == 0, hidden.stderr
    assert "0 results" in hidden.stdout
    shown = heurist(server, "search", "wheels", "--mode", "keyword", "--state", "proposed")
    assert "Cache the wheels" in shown.stdout and "1 results" in shown.stdout

    dump = tmp_path / "dump.jsonl"
    exported = heurist(server, "export", str(dump), "--with-history")
    assert exported.returncode == 0, exported.stderr
    assert "with 1 revisions" in exported.stdout
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    assert records[-1] | {"at": None} == {
        "kind": "revision",
        "id": entry_id,
        "revision": 1,
        "at": None,
        "author": None,
        "action": "create",
        "fields": {k: v for k, v in entry.items()}
        | {"context": None, "author": None, "source": None},
    }
    refused = heurist(server, "export", str(tmp_path / "dump.csv"), "--with-history")
    assert refused.returncode == 2 and "JSONL only" in refused.stderr
    assert "imported" not in refused.stderr
