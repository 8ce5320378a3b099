"""Engines and transactions for SQLite (embedded default) and PostgreSQL (scale-out).

SQLite: WAL so that readers never block the writer, ``synchronous=FULL`` so a write
that returned survives a power cut, foreign keys on, and a busy timeout. Write
transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and
then writes can fail at once with SQLITE_BUSY when another writer got in between,
which the busy timeout does not cover. A writer waiting for the lock polls for it every
millisecond (:func:`_begin_immediate`), so it is not starved by a stream of short writes.

PostgreSQL: a request never waits long for a connection. A connection attempt gives
up after ``PG_CONNECT_TIMEOUT`` seconds, a checkout from a full pool after
``PG_POOL_TIMEOUT``, and TCP keepalives notice a server that vanished without closing
its sockets; statements themselves have no time limit.

Every transaction goes through :func:`heurist.db.faults.translated`: a driver error
that means "the database cannot serve now" leaves this module as
``DatabaseUnavailable`` or ``StorageFull``, once, for every caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from heurist.db.faults import (
    SQLITE_BUSY,
    DatabaseFault,
    DatabaseUnavailable,
    StorageFull,
    translated,
)
from heurist.db.probe import Probe
from heurist.private_files import private_sqlite_file

__all__ = ["Database", "DatabaseFault", "DatabaseUnavailable", "StorageFull"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
BEGIN_POLL_SECONDS = 0.001  # how often a writer waiting for SQLite's write lock tries again
PG_CONNECT_TIMEOUT = 3  # seconds per connection attempt (psycopg's floor is 2)
PG_POOL_TIMEOUT = 5.0  # seconds a request waits for a pooled connection
# A server gone without closing its sockets (a cut network) is noticed in ~25 s.
PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
# The probe (/health) has a small pool of its own, so a saturated request pool or a
# hung connection never makes the health check wait.
PROBE_CONNECT_TIMEOUT = 2
PROBE_POOL_TIMEOUT = 1.0
PROBE_BUSY_TIMEOUT_MS = 1_000


class Database:
    """The one handle on the database: an engine and two kinds of transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine: Engine = _make_engine(url, echo=echo)
        self._probe: Probe | None = None
        self._probe_lock = threading.Lock()
        # When a write was last refused for a full disk: for /health, whose probe only
        # reads (reads keep working on a full disk). Not cleared by the next write that
        # commits: a small one may still fit where a larger one does not.
        self.last_storage_full: float | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction; commits on success, rolls back on error."""
        try:
            with translated(), self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except StorageFull:
            self.last_storage_full = time.time()
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot (on SQLite WAL it never blocks nor is blocked by the writer)."""
        with translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @property
    def probe(self) -> Probe:
        """Reads bounded by a deadline, on a small engine of their own (for /health)."""
        with self._probe_lock:
            if self._probe is None:
                self._probe = Probe(_make_engine(self.url, echo=False, probe=True))
            return self._probe

    def ping(self) -> None:
        """Raises DatabaseUnavailable (or StorageFull) when the database cannot serve."""
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
        with self._probe_lock:
            if self._probe is not None:
                self._probe.dispose()
                self._probe = None


def _make_engine(url: str, *, echo: bool, probe: bool = False) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo, probe=probe)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    given = make_url(url).query  # what the URL says wins over our defaults
    defaults: dict[str, Any] = {
        "connect_timeout": PROBE_CONNECT_TIMEOUT if probe else PG_CONNECT_TIMEOUT,
        **PG_KEEPALIVES,
    }
    return create_engine(
        url,
        echo=echo,
        pool_size=1 if probe else 10,
        max_overflow=1 if probe else 20,
        pool_timeout=PROBE_POOL_TIMEOUT if probe else PG_POOL_TIMEOUT,
        pool_pre_ping=True,
        connect_args={k: v for k, v in defaults.items() if k not in given},
    )


def _sqlite_engine(url: str, *, echo: bool, probe: bool) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_sqlite_file(Path(database))
    busy_ms = PROBE_BUSY_TIMEOUT_MS if probe else SQLITE_BUSY_TIMEOUT_MS
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
        pool_size=1 if probe else 8,
        max_overflow=1 if probe else 16,
        **({"pool_timeout": PROBE_POOL_TIMEOUT} if probe else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level: transactions are begun by the "begin" hook.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            _begin_immediate(conn, busy_ms)
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _begin_immediate(conn: Connection, busy_ms: int) -> None:
    """Take SQLite's write lock, polling every millisecond up to the busy timeout.

    SQLite's own busy handler sleeps ever longer between tries (up to 100 ms), so a writer
    that waits behind a stream of short transactions (an import's batches) would almost
    never find the lock free: it wakes after the next batch has taken it again, and waits
    seconds. Polling often finds the gap between two transactions; the importer leaves one
    on purpose (``heurist.transfer.staging``).
    """
    deadline = time.monotonic() + busy_ms / 1000
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                code = getattr(exc.orig, "sqlite_errorcode", None)
                if code is None or code & 0xFF != SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(BEGIN_POLL_SECONDS)
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
