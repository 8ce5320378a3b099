"""Driver errors translated once at the Database boundary, on real databases.

Connection-level errors become ``DatabaseUnavailable``; statement errors (bugs, or
rules a caller handles) pass through unchanged; nothing waits longer than the
engine's timeouts; the health probe answers within its deadline whatever happens.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from heurist.db.engine import (
    PG_CONNECT_TIMEOUT,
    PG_POOL_TIMEOUT,
    PROBE_CONNECT_TIMEOUT,
    Database,
)
from heurist.db.faults import DatabaseFault, DatabaseUnavailable
from heurist.embedding.hashing import HashEmbedder
from heurist.errors import Conflict
from heurist.observability.health import health_report
from heurist.runtime import Runtime
from heurist.store.categories import CategoryStore
from tests.conftest import PG_ADMIN, make_settings

# Slack for a loaded machine on top of a timeout that must bound a wait.
SLACK = 5.0


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a hung server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # the kernel completes handshakes; nobody ever answers
        yield int(sock.getsockname()[1])


def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'heurist.db'}")
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            db.ping()
    finally:
        db.dispose()
    fault = caught.value
    assert isinstance(fault.__cause__, DBAPIError)
    assert fault.code == "database_unavailable"
    assert "cannot be opened" in fault.message and "SQLITE_CANTOPEN" in fault.reason


def test_statement_errors_are_not_faults(db: Database) -> None:
    with pytest.raises(DBAPIError) as caught, db.read() as conn:
        conn.exec_driver_sql("SELECT no_such_column FROM no_such_table")
    assert not isinstance(caught.value, DatabaseFault)
    with pytest.raises(IntegrityError), db.write() as conn:
        conn.exec_driver_sql("INSERT INTO categories (code) VALUES (NULL)")
    # A rule the store handles itself still reaches it as the driver raised it.
    CategoryStore(db).create("py", "Python")
    with pytest.raises(Conflict):
        CategoryStore(db).create("py", "Python again")


def test_postgres_refusing_connections_is_unavailable_at_once() -> None:
    db = Database("postgresql://postgres@127.0.0.1:9/nothing")  # nothing listens on 9
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            db.ping()
    finally:
        db.dispose()
    assert "cannot reach the database server" in caught.value.message
    assert caught.value.details == {"reason": "cannot reach the database server"}
    assert "127.0.0.1" not in caught.value.message  # hosts stay in the log


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_backend_killed_mid_transaction_is_unavailable_then_recovers(db: Database) -> None:
    with pytest.raises(DatabaseUnavailable) as caught, db.read() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        conn.exec_driver_sql("SELECT 1")
    assert "57P01" in caught.value.reason  # admin_shutdown
    db.ping()  # the pool dropped the dead connection: the next transaction works


def test_a_hung_postgres_is_unavailable_within_the_connect_timeout(blackhole: int) -> None:
    db = Database(f"postgresql://postgres@127.0.0.1:{blackhole}/heurist")
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailable):
            db.ping()
    finally:
        db.dispose()
    assert time.monotonic() - started < PG_CONNECT_TIMEOUT + SLACK


def test_health_answers_before_any_connect_timeout_when_postgres_hangs(
    tmp_path: Path, blackhole: int
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{blackhole}/heurist"
    rt = Runtime.build(make_settings(tmp_path, url), embedder=HashEmbedder())
    try:
        took = []
        for _ in range(2):
            started = time.monotonic()
            status, body = health_report(rt)
            took.append(time.monotonic() - started)
            assert status == 503
            assert body["reasons"][0] == (
                "database unreachable: the database did not answer within 0.8 s"
            )
        # The first probe is still connecting (it gives up after PROBE_CONNECT_TIMEOUT):
        # the second health check waited on it instead of starting another.
        probes = [t for t in threading.enumerate() if t.name == "db-probe"]
    finally:
        rt.db.dispose()
    assert max(took) < PROBE_CONNECT_TIMEOUT
    assert len(probes) == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_saturated_pool_is_unavailable_after_the_pool_timeout_and_health_still_answers(
    tmp_path: Path, db_url: str
) -> None:
    rt = Runtime.build(make_settings(tmp_path, db_url), embedder=HashEmbedder())
    db = rt.db
    engine = db.engine
    try:
        with ExitStack() as held:
            capacity = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
            for _ in range(capacity):
                held.enter_context(engine.connect())
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as caught:
                db.ping()
            waited = time.monotonic() - started
            assert isinstance(caught.value.__cause__, PoolTimeout)
            assert PG_POOL_TIMEOUT <= waited < PG_POOL_TIMEOUT + SLACK
            # The probe has connections of its own: health is not held by the request pool.
            status, body = health_report(rt)
            assert status == 200 and body["database"]["ok"]
    finally:
        db.dispose()
