"""A killed import is all or nothing, and never blocks interactive writes.

``heurist import`` runs as a subprocess against a live server with
``HEURIST_IMPORT_CHECKPOINTS``: at each step of its write it says where it is on stderr
and waits for a line on stdin. The test lets it go on step by step and SIGKILLs it at the
chosen one, so the kill lands exactly there, with no sleeps. Afterwards the store holds
none of the import's rows (or all of them, killed after publishing), the import's pause
lapses by itself, and the next import or start removes the dead import's staged rows (or
settles them, once published).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from heurist.db.engine import Database
from heurist.db.schema import imports
from heurist.runtime import Runtime
from heurist.transfer.staging import batch_size, staged_count
from tests.e2e.test_import_cli import HEURIST, cli_env, entry_count, run_cli, status
from tests.support.server import LiveServer
from tests.support.transfer_data import CATEGORIES, ENTRIES, bulk_file, write_jsonl
from tests.support.wait import wait_for


def sizes(server: LiveServer) -> tuple[int, int]:
    """(rows per staging batch on this backend, rows imported: three batches' worth)."""
    batch = batch_size(server.runtime.db)
    return batch, 2 * batch + batch // 2


PREFIX = "import checkpoint: "


class Importer:
    """``heurist import FILE`` stopped at each checkpoint until told to go on."""

    def __init__(self, server: LiveServer, path: Path) -> None:
        self.proc = subprocess.Popen(
            [HEURIST, "import", str(path)],
            env=cli_env(server, HEURIST_IMPORT_CHECKPOINTS="true"),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seen: list[str] = []
        self.at: str | None = None

    def advance_to(self, step: str) -> None:
        """Let the import run until it waits at ``step``."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        while True:
            if self.at is not None:
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
                self.at = None
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"the import ended before '{step}': {self.seen}")
            self.seen.append(line.rstrip())
            if line.startswith(PREFIX):
                self.at = line[len(PREFIX) :].strip()
                if self.at == step:
                    return

    def finish(self) -> int:
        assert self.proc.stdin is not None and self.proc.stderr is not None
        while True:
            if self.at is not None:
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
                self.at = None
            line = self.proc.stderr.readline()
            if not line:
                return self.proc.wait(timeout=60)
            self.seen.append(line.rstrip())
            if line.startswith(PREFIX):
                self.at = line[len(PREFIX) :].strip()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def leftovers(db: Database) -> tuple[int, int]:
    """(staged rows, imports recorded)."""
    with db.read() as conn:
        rows = staged_count(conn)
        held = int(conn.execute(select(func.count()).select_from(imports)).scalar_one())
    return rows, held


def visible(server: LiveServer) -> tuple[int, int]:
    """(entries the queue counts, entries a search for the import's titles finds)."""
    hits = server.client.get("/api/v1/search", params={"q": "heuristic retries", "limit": 50})
    assert hits.status_code == 200, hits.text
    return entry_count(server), len(hits.json()["results"])


@pytest.mark.parametrize(
    ("step", "published"),
    [
        ("staging", False),
        ("staged entries FIRST", False),  # after the first batch
        ("staged entries ALL", False),  # after the last
        ("publishing", False),  # inside the publish transaction, before its commit
        ("published", True),  # committed; its rows not yet settled
        ("settled", True),
    ],
)
def test_an_import_killed_at_any_step_leaves_none_or_all_of_its_rows(
    server_factory: Callable[..., LiveServer],
    runtime_factory: Callable[..., Runtime],
    tmp_path: Path,
    step: str,
    published: bool,
) -> None:
    server = server_factory(num_embedding_workers=1, import_pause_lease_seconds=2.0)
    batch, N = sizes(server)
    importer = Importer(server, bulk_file(tmp_path / "big.jsonl", N))
    try:
        importer.advance_to(step.replace("FIRST", str(batch)).replace("ALL", str(N)))
        importer.kill()
    finally:
        importer.close()
    wait_for(lambda: not status(server)["paused"], timeout=60, message="the pause never lapsed")
    assert entry_count(server) == (N if published else 0)
    category = server.client.get("/api/v1/categories/bulk").status_code
    assert category == (200 if published else 404)
    # The next start removes the dead import's rows, or settles them once published (its
    # process is gone)...
    runtime_factory(num_embedding_workers=0)
    assert leftovers(server.runtime.db) == (0, 0)
    assert entry_count(server) == (N if published else 0)
    # ...and an import works as if nothing had happened.
    again = bulk_file(tmp_path / "again.jsonl", 10)
    done = run_cli(server, "import", str(again))
    assert done.returncode == 0, done.stderr
    assert entry_count(server) == (N if published else 10)


def test_the_next_import_removes_a_killed_imports_rows(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1, import_pause_lease_seconds=2.0)
    batch, N = sizes(server)
    importer = Importer(server, bulk_file(tmp_path / "big.jsonl", N))
    try:
        importer.advance_to(f"staged entries {2 * batch}")
        importer.kill()
    finally:
        importer.close()
    assert leftovers(server.runtime.db) == (2 * batch + 1, 1)  # its entries and category
    wait_for(lambda: not status(server)["paused"], timeout=60, message="the pause never lapsed")
    done = run_cli(server, "import", str(write_jsonl(tmp_path / "s.jsonl", CATEGORIES + ENTRIES)))
    assert done.returncode == 0, done.stderr
    assert leftovers(server.runtime.db) == (0, 0)
    assert entry_count(server) == len(ENTRIES)


def test_interactive_writes_go_on_while_an_import_is_staged(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    server.client.post("/api/v1/categories", json={"code": "py", "name": "Py"}).raise_for_status()
    batch, N = sizes(server)
    importer = Importer(server, bulk_file(tmp_path / "big.jsonl", N))
    try:
        importer.advance_to(f"staged entries {2 * batch}")
        # Half the import is in the tables, invisible; the database is not held.
        for i in range(5):
            created = server.client.post(
                "/api/v1/experiences",
                json={"category": "py", "section": "useful", "title": f"t{i}", "playbook": "p"},
                timeout=5,
            )
            assert created.status_code == 201, created.text
        assert visible(server) == (5, 0)
        listed = server.client.get("/api/v1/experiences", params={"limit": 500}).json()["items"]
        assert {e["title"] for e in listed} == {f"t{i}" for i in range(5)}
        counts = server.client.get("/api/v1/categories").json()["categories"]
        assert [c["code"] for c in counts] == ["py"]
        assert importer.finish() == 0, importer.seen
    finally:
        importer.close()
    assert entry_count(server) == N + 5
    assert leftovers(server.runtime.db) == (0, 0)
    assert visible(server)[1] > 0
