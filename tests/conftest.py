"""Shared fixtures: real databases (a SQLite file; a fresh PostgreSQL database per test,
cloned from a migrated template made once per run), runtimes, and live servers.

PostgreSQL tests skip when no server answers on 127.0.0.1:5432, except under CI=true,
where a missing server fails them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.embedding.hashing import HashEmbedder
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.support.server import LiveServer

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
# The verified ONNX export of the model, shared by the tests that load it (made once, then
# reused; tests/integration/test_embedding_local.py exports into a fresh folder on purpose).
MODEL_CACHE = Path(tempfile.gettempdir()) / "heurist-test-model-cache"
RUN_ID = uuid.uuid4().hex[:8]
TEMPLATE = f"heurist_tpl_{RUN_ID}"


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    if pg_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, and CI=true requires it")
    pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")


def _pg_exec(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    require_postgres()
    _pg_exec(f"CREATE DATABASE {TEMPLATE}")
    db = Database(f"postgresql://postgres@127.0.0.1:5432/{TEMPLATE}")
    upgrade(db)
    db.dispose()
    yield TEMPLATE
    _pg_exec(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    name = f"heurist_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    _pg_exec(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    _pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'heurist.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()


def make_settings(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": db_url,
        "embedding_provider": "hash",
        "num_embedding_workers": 0,
        "worker_poll_interval": 0.2,
        "lease_seconds": 10.0,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "outage_backoff_seconds": 0.2,
        "index_sync_interval": 0.1,
        "admin_token": "test-admin-token",
        "model_cache_dir": MODEL_CACHE,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_factory(tmp_path: Path, db_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return make_settings(tmp_path, db_url, **overrides)

    return make


@pytest.fixture
def runtime_factory(
    settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., Runtime]]:
    made: list[Runtime] = []

    def make(*, start: bool = True, embedder: Any = None, **overrides: Any) -> Runtime:
        rt = Runtime.build(settings_factory(**overrides), embedder=embedder or HashEmbedder())
        if start:
            rt.start()
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.stop()


@pytest.fixture
def server_factory(
    settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., LiveServer]]:
    """Start the real app under uvicorn on a free port; stopped after the test.

    ``embedder`` swaps the settings' embedder (e.g. one that fails on purpose).
    """
    started: list[LiveServer] = []

    def make(*, embedder: Any = None, **overrides: Any) -> LiveServer:
        settings = settings_factory(**overrides)
        runtime = Runtime.build(settings, embedder=embedder) if embedder is not None else None
        server = LiveServer(settings, runtime=runtime)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
