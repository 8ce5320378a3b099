"""PostgreSQL on a full disk: 507 from SQLSTATE 53100, reads go on, writes resume.

A private cluster keeps its data directory on a 48 MB tmpfs and its WAL elsewhere
(a separate WAL volume, as many deployments have: a full WAL disk would stop the
server instead, which is the outage of test_pg_outage). A filler file takes the free
space; writes go on until a table or index must grow, then answer 507.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from heurist.embedding.hashing import HashEmbedder
from heurist.runtime import Runtime
from tests.conftest import make_settings
from tests.support.pg_cluster import PrivateCluster, give_to_owner, private_cluster
from tests.support.server import LiveServer
from tests.support.tmpfs import MB, fill, small_tmpfs
from tests.support.wait import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

MAX_WRITES_UNTIL_FULL = 5_000


@pytest.fixture
def cluster() -> Iterator[tuple[PrivateCluster, Path]]:
    with small_tmpfs(48 * MB) as disk, tempfile.TemporaryDirectory() as wal_root:
        give_to_owner(disk)
        give_to_owner(Path(wal_root))
        args = [f"--waldir={wal_root}/wal"]
        with private_cluster(data=disk / "pgdata", initdb_args=args) as made:
            yield made, disk


def test_postgres_full_disk_answers_507_and_resumes(
    cluster: tuple[PrivateCluster, Path], tmp_path: Path
) -> None:
    made, disk = cluster
    db_url = made.create_database("heurist")
    settings = make_settings(tmp_path, db_url, num_embedding_workers=2, lease_seconds=60.0)
    server = LiveServer(settings, runtime=Runtime.build(settings, embedder=HashEmbedder()))
    server.start()
    try:
        assert server.client.post("/api/v1/categories", json={"code": "ops", "name": "Ops"})
        acknowledged: list[str] = []

        def write(n: int) -> httpx.Response:
            body = {
                "category": "ops",
                "section": "useful",
                "title": f"full disk {n}",
                "playbook": f"Entry {n} written while the disk fills. " + "padding " * 60,
            }
            response = server.client.post("/api/v1/experiences", json=body)
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            assert response.status_code in (201, 507), response.text
            return response

        for n in range(10):
            assert write(n).status_code == 201
        filler = fill(disk)
        refused = next(
            (r for n in range(10, MAX_WRITES_UNTIL_FULL) if (r := write(n)).status_code == 507),
            None,
        )
        assert refused is not None, "the disk never filled up"
        error = refused.json()["error"]
        assert error["code"] == "storage_full"
        assert error["details"] == {"reason": "the database server has no space left"}

        # Reads go on; health says why writes fail.
        assert server.client.get(f"/api/v1/experiences/{acknowledged[-1]}").status_code == 200
        assert server.client.get("/api/v1/search", params={"q": "disk fills"}).status_code == 200
        health = server.client.get("/health").json()
        assert any(r.startswith("database disk full") for r in health["reasons"])

        filler.unlink()
        wait_for(
            lambda: write(MAX_WRITES_UNTIL_FULL).status_code == 201,
            timeout=60,
            message="writes did not resume",
        )
        assert server.wait_embedded(120) == {"status": "drained", "remaining": 0}
        with psycopg.connect(db_url) as conn:
            stored = dict(conn.execute("SELECT id, embedding_status FROM entries").fetchall())
            attempts = {a for (a,) in conn.execute("SELECT attempts FROM entries")}
        assert set(acknowledged) <= set(stored)
        assert set(stored.values()) == {"embedded"} and attempts == {1}
    finally:
        server.stop()
