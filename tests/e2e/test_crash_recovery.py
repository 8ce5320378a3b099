"""kill -9 the real server mid-batch, restart it: nothing lost, nothing doubled.

Runs `heurist serve` as a subprocess with the real all-MiniLM-L6-v2 model on a SQLite
file, so the kill lands while a model call is in flight.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MODEL_CACHE
from tests.support.server import free_port
from tests.support.wait import wait_for

pytestmark = pytest.mark.model

TOKEN = "crash-test-token"


class ServerProcess:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = os.environ | {
            "HEURIST_DATA_DIR": str(data_dir),
            "HEURIST_PORT": str(port),
            "HEURIST_ADMIN_TOKEN": TOKEN,
            "HEURIST_INSTANCE_ID": "crash-test",
            "HEURIST_NUM_EMBEDDING_WORKERS": "2",
            "HEURIST_WORKER_BATCH_SIZE": "16",
            "HEURIST_EMBEDDING_THREADS": "1",
            "HEURIST_LOG_LEVEL": "WARNING",
            "HEURIST_MODEL_CACHE_DIR": str(MODEL_CACHE),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heurist.cli.main", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, timeout=120, message="server did not come up", every=0.2)

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def status_counts(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as conn:
        return dict(
            conn.execute(
                "SELECT embedding_status, count(*) FROM entries GROUP BY embedding_status"
            ).fetchall()
        )


def test_sigkill_mid_batch_loses_nothing_and_doubles_nothing(data_dir: Path) -> None:
    port = free_port()
    admin = {"Authorization": f"Bearer {TOKEN}"}
    first = ServerProcess(data_dir, port)
    first.start()
    try:
        httpx.post(f"{first.url}/admin/queue/pause", headers=admin).raise_for_status()
        httpx.post(f"{first.url}/api/v1/categories", json={"code": "c", "name": "C"})
        with httpx.Client(base_url=first.url) as client:
            for i in range(400):
                client.post(
                    "/api/v1/experiences",
                    json={
                        "category": "c",
                        "section": "useful",
                        "title": f"heuristic number {i}",
                        "playbook": f"When the build breaks for reason {i}, read the log "
                        f"from the bottom, find the first error, fix that one first.",
                    },
                ).raise_for_status()
        httpx.post(f"{first.url}/admin/queue/resume", headers=admin).raise_for_status()
        db_file = data_dir / "heurist.db"
        wait_for(
            lambda: status_counts(db_file).get("embedded", 0) >= 40,
            timeout=120,
            message="embedding never got going",
        )
        first.kill()
    finally:
        first.terminate()
    after_kill = status_counts(db_file)
    assert after_kill.get("processing", 0) > 0, f"the kill should land mid-batch: {after_kill}"
    assert after_kill.get("embedded", 0) < 400

    second = ServerProcess(data_dir, port)
    second.start()
    try:
        drained = httpx.post(
            f"{second.url}/admin/queue/drain", params={"timeout": 240}, headers=admin, timeout=300
        ).json()
        assert drained == {"status": "drained", "remaining": 0}
    finally:
        second.terminate()
    with sqlite3.connect(db_file) as conn:
        assert status_counts(db_file) == {"embedded": 400}
        per_entry = conn.execute(
            "SELECT e.id, count(v.id) FROM entries e LEFT JOIN vectors v ON v.entry_id = e.id "
            "GROUP BY e.id"
        ).fetchall()
        assert {n for _, n in per_entry} == {1}, "exactly one vector set per entry"
        stale = conn.execute(
            "SELECT count(*) FROM entries WHERE embedded_revision <> revision "
            "OR claimed_by IS NOT NULL"
        ).fetchone()[0]
        assert stale == 0
