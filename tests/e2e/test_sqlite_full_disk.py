"""SQLite on a full disk (issue 14, item 3): 507, nothing corrupted, resumes when freed.

The data directory lives on a 16 MB tmpfs. While a real server (two workers) keeps
running, a filler file takes every free byte; writes go on until SQLite needs a byte
more (its WAL keeps reusing space it already has until then, and the checkpoint that
would let it reset cannot grow the database file either). The workers hold a batch in
the model call when the disk fills, so their write-back meets the full disk too.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heurist.embedding.hashing import HashEmbedder
from heurist.runtime import Runtime
from tests.conftest import make_settings
from tests.support.embedders import ScriptedEmbedder
from tests.support.server import LiveServer
from tests.support.tmpfs import MB, fill, free_bytes, small_tmpfs
from tests.support.wait import wait_for

pytestmark = pytest.mark.timeout(300)

MAX_WRITES_UNTIL_FULL = 5_000  # the WAL's reusable space holds a few hundred writes


class Writer:
    """Numbered experiences over HTTP; remembers what got a 201."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.acknowledged: list[str] = []
        self.n = 0

    def write(self) -> Any:
        self.n += 1
        body = {
            "category": "ops",
            "section": "useful",
            "title": f"full disk {self.n}",
            "playbook": f"Entry {self.n} written while the disk fills. " + "padding " * 40,
        }
        response = self.server.client.post("/api/v1/experiences", json=body)
        if response.status_code == 201:
            self.acknowledged.append(response.json()["id"])
        return response


def wal_resets(db_file: Path) -> int:
    """The WAL header's checkpoint sequence number: it counts the WAL's resets."""
    with open(f"{db_file}-wal", "rb") as wal:
        return int(struct.unpack(">I", wal.read(32)[12:16])[0])


def integrity(db_file: Path) -> str:
    with sqlite3.connect(db_file) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def rows(db_file: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def disk() -> Iterator[Path]:
    with small_tmpfs(16 * MB) as root:
        yield root


@pytest.fixture
def server(disk: Path, tmp_path: Path) -> Iterator[tuple[LiveServer, ScriptedEmbedder]]:
    settings = make_settings(
        tmp_path,
        data_dir=disk / "data",
        num_embedding_workers=2,
        lease_seconds=60.0,  # the production lease: the full disk lasts less
    )
    embedder = ScriptedEmbedder()
    runtime = Runtime.build(settings, embedder=embedder, query_embedder=HashEmbedder())
    live = LiveServer(settings, runtime=runtime)
    live.start()
    try:
        yield live, embedder
    finally:
        if embedder.gate is not None:
            embedder.gate.set()
        live.stop()  # closes every SQLite connection before the tmpfs is unmounted


def test_full_disk_answers_507_corrupts_nothing_and_resumes_when_freed(
    disk: Path, server: tuple[LiveServer, ScriptedEmbedder]
) -> None:
    live, embedder = server
    db_file = disk / "data" / "heurist.db"
    assert live.client.post("/api/v1/categories", json={"code": "ops", "name": "Ops"}).is_success
    writer = Writer(live)
    for _ in range(20):
        assert writer.write().status_code == 201
    assert live.wait_embedded(60)["status"] == "drained"

    # Fill the disk just after SQLite reset its WAL: the WAL file then has room that
    # writes reuse without growing, until the next checkpoint must grow the database
    # file, fails, and the WAL has to grow past its end.
    reset = wal_resets(db_file)
    for _ in range(MAX_WRITES_UNTIL_FULL):
        assert writer.write().status_code == 201
        if wal_resets(db_file) > reset:
            break
    assert wal_resets(db_file) > reset, "the WAL was never reset"
    # Both workers hold a claimed batch in the model call when the disk fills.
    gate = threading.Event()
    embedder.entered.clear()
    embedder.gate = gate
    for _ in range(4):
        assert writer.write().status_code == 201
    wait_for(embedder.entered.is_set, timeout=60, message="no batch reached the model")
    filler = fill(disk)
    assert free_bytes(disk) == 0
    before = len(writer.acknowledged)

    refused = None
    for _ in range(MAX_WRITES_UNTIL_FULL):
        response = writer.write()
        if response.status_code != 201:
            refused = response
            break
    assert refused is not None, "the disk never filled up"
    assert refused.status_code == 507, refused.text
    error = refused.json()["error"]
    assert error["code"] == "storage_full"
    assert "disk under the database is full" in error["message"]
    assert "free space" in error["message"]
    gate.set()  # the held batches' write-backs now meet the full disk
    embedder.gate = None

    # Writes went on into the WAL's free room; then the checkpoint could not grow the
    # database file. It still cannot, but the store stays readable and sound.
    acknowledged_while_full = len(writer.acknowledged) - before
    assert acknowledged_while_full > 0
    print(
        f"\n{before} writes acknowledged before the disk filled, {acknowledged_while_full} "
        f"while full (into the WAL's free room), then 507: {error['message']}"
    )
    # A checkpoint now fails if it must grow the database file; whether it must depends
    # on the free pages the file happens to hold, so only its error is checked.
    try:
        with sqlite3.connect(db_file) as conn:
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    except sqlite3.OperationalError as exc:
        assert "full" in str(exc), exc
    ids = {r[0] for r in rows(db_file, "SELECT id FROM entries")}
    assert set(writer.acknowledged) <= ids
    # A write that still fits in what the WAL holds may pass; none fails otherwise.
    assert writer.write().status_code in (201, 507)
    for entry_id in writer.acknowledged[-3:]:
        assert live.client.get(f"/api/v1/experiences/{entry_id}").status_code == 200
    found = live.client.get("/api/v1/search", params={"q": "written while the disk fills"})
    assert found.status_code == 200 and found.json()["results"]
    health = live.client.get("/health").json()
    assert health["status"] == "degraded" and health["database"]["last_storage_full"]
    assert any(r.startswith("database disk full") for r in health["reasons"])
    wait_for(lambda: _waiting(live), timeout=60, message="the workers did not back off")
    assert integrity(db_file) == "ok"
    assert rows(db_file, "SELECT count(*) FROM entries WHERE embedding_status = 'failed'") == [(0,)]

    # Space comes back: everything resumes by itself.
    filler.unlink()
    wait_for(lambda: writer.write().status_code == 201, timeout=60, message="writes did not resume")
    assert live.wait_embedded(120) == {"status": "drained", "remaining": 0}
    assert integrity(db_file) == "ok"
    stored = {
        r[0]: r[1:] for r in rows(db_file, "SELECT id, embedding_status, attempts FROM entries")
    }
    assert set(writer.acknowledged) <= set(stored)
    assert {status for status, _ in stored.values()} == {"embedded"}
    assert {attempts for _, attempts in stored.values()} == {1}  # the disk burnt none
    per_entry = rows(db_file, "SELECT count(*) FROM vectors GROUP BY entry_id")
    assert len(per_entry) == len(stored) and {n for (n,) in per_entry} == {1}
    assert live.runtime.pool is not None
    assert sum(s.restarts for s in live.runtime.pool.stats) == 0


def _waiting(live: LiveServer) -> bool:
    pool = live.runtime.pool
    return pool is not None and pool.signals.database_down_since is not None
