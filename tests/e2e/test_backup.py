"""Backups: ``heurist backup`` copies a SQLite store while a server writes into it; on
PostgreSQL it points to pg_dump, and a pg_dump of a store restores into a fresh database."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from heurist.db.engine import Database
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore
from tests.e2e.test_import_cli import HEURIST, cli_env, run_cli
from tests.support.server import LiveServer
from tests.support.transfer_data import bulk_file
from tests.support.wait import wait_for

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


class WriteLoad:
    """Creates in a loop; ``acked`` holds every id answered 201, in order."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            body = {"category": "bulk", "section": "useful", "title": f"live {i}", "playbook": "p"}
            response = self.server.client.post("/api/v1/experiences", json=body)
            if response.status_code == 201:
                self.acked.append(response.json()["id"])
            i += 1

    def __enter__(self) -> WriteLoad:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_backup_under_write_load_is_whole_and_holds_every_acknowledged_write(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    assert run_cli(server, "import", str(bulk_file(tmp_path / "b.jsonl", 3_000))).returncode == 0
    copy = tmp_path / "backup.db"
    with WriteLoad(server) as load:
        wait_for(lambda: len(load.acked) >= 20, timeout=60, message="no write was acknowledged")
        acked_before = list(load.acked)  # acknowledged before the backup starts
        done = subprocess.run(
            [HEURIST, "backup", str(copy)],
            env=cli_env(server),
            capture_output=True,
            text=True,
            timeout=300,
        )
        during = len(load.acked) - len(acked_before)
        wait_for(lambda: len(load.acked) > len(acked_before) + during, timeout=60, message="stuck")
    assert done.returncode == 0, done.stderr
    assert "integrity ok" in done.stdout
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = {row[0] for row in conn.execute("SELECT id FROM entries")}
        hits = conn.execute("SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'retries'")
        assert hits.fetchone()[0] == 3_000
    assert set(acked_before) <= ids
    assert len(ids) >= 3_000 + len(acked_before)
    # The copy is a store heurist opens as it is.
    restored = Database(f"sqlite:///{copy}")
    try:
        assert EntryStore(restored).get(acked_before[-1])["title"].startswith("live ")
    finally:
        restored.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_backup_never_overwrites(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory()
    taken = tmp_path / "taken.db"
    taken.write_text("precious")
    done = run_cli(server, "backup", str(taken))
    assert done.returncode == 1 and "never overwrites" in done.stderr
    assert taken.read_text() == "precious"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_backup_on_postgresql_says_pg_dump_is_the_tool(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    done = run_cli(server_factory(), "backup", str(tmp_path / "x.db"))
    assert done.returncode == 2
    assert "pg_dump" in done.stderr and "pg_restore" in done.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.fixture
def fresh_pg_database() -> Iterator[str]:
    name = f"heurist_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_pg_dump_restores_into_a_fresh_database(
    pg_url: str, fresh_pg_database: str, tmp_path: Path
) -> None:
    db = Database(pg_url)
    CategoryStore(db).create("py", "Python")
    store = EntryStore(db)
    ids = [
        store.create(
            "experience",
            {"category": "py", "section": "useful", "title": f"Pin torch {i}", "playbook": "Pin"},
        )["id"]
        for i in range(20)
    ]
    with db.read() as conn:
        head = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    db.dispose()
    dump = tmp_path / "heurist.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", pg_url], check=True, timeout=120
    )
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={fresh_pg_database}", str(dump)],
        check=True,
        timeout=120,
    )
    restored = Database(fresh_pg_database)
    try:
        assert {e["id"] for e in EntryStore(restored).list("experience", limit=100)[0]} == set(ids)
        with restored.read() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
            found = conn.exec_driver_sql(
                "SELECT count(*) FROM entries WHERE search_tsv @@ to_tsquery('english', 'torch')"
            ).scalar_one()
        assert version == head and found == 20
    finally:
        restored.dispose()
