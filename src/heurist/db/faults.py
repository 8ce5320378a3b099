"""Driver errors become typed faults here, once, at the database boundary.

    StoreError
    └── DatabaseFault               the database cannot do its job right now; not a bug
        ├── DatabaseUnavailable     server down, connection refused or lost, admin
        │                           shutdown, no pooled connection in time, SQLite file
        │                           that cannot be opened or is locked too long  -> 503
        └── StorageFull             the disk under the database is full           -> 507

A value the database cannot hold or compare (PostgreSQL's data exceptions, SQLSTATE
class 22, and psycopg's refusal of a NUL byte) becomes ``InvalidInput`` (422): the last
line of defence behind the API's own validation, so such a value is never a 500.
Everything else a driver raises (a constraint, a syntax error: a bug or a rule the
caller handles, such as ``IntegrityError``) passes through unchanged. A fault keeps
the driver error as its ``__cause__`` and its text as ``reason``, for logs and
``/health``; its message is what a client may read: what happened and what to do,
without host names or SQL.

The classification reads codes, never message texts: SQLite's result code
(``sqlite_errorcode``, Python >= 3.11) and PostgreSQL's SQLSTATE; a psycopg
``OperationalError`` without a SQLSTATE failed on the client side (refused, reset,
timed out), and SQLAlchemy flags a lost connection with ``connection_invalidated``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from heurist.errors import InvalidInput, StoreError

# Seconds a client is told to wait before retrying (the Retry-After header of a 503).
RETRY_AFTER_SECONDS = 5

# SQLite primary result codes (https://sqlite.org/rescode.html).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 5, 6, 8
SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN = 10, 13, 14
_SQLITE_UNAVAILABLE = {
    SQLITE_BUSY: "the database is busy (its write lock was held too long)",
    SQLITE_LOCKED: "the database is locked",
    SQLITE_READONLY: "the database file cannot be written",
    SQLITE_IOERR: "disk I/O error",
    SQLITE_CANTOPEN: "the database file cannot be opened",
}

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
PG_DISK_FULL = "53100"
_PG_UNAVAILABLE = {
    "53200": "the database server is out of memory",
    "53300": "the database server has too many connections",
    "57P01": "the database server is shutting down",
    "57P02": "the database server crashed",
    "57P03": "the database server is starting up",
    "57P05": "the database server closed an idle session",
}


class DatabaseFault(StoreError):
    """The database cannot serve right now; retrying later (or freeing space) will do."""

    code = "database_fault"

    def __init__(self, message: str, *, what: str, driver: str) -> None:
        super().__init__(message, details={"reason": what})
        self.what = what
        self.reason = f"{what} ({driver})" if driver else what


class DatabaseUnavailable(DatabaseFault):
    code = "database_unavailable"

    def __init__(self, what: str, driver: str = "") -> None:
        super().__init__(
            f"the database is unavailable ({what}): retry in {RETRY_AFTER_SECONDS} seconds; "
            "if this persists, the operator should check the database server (see /health)",
            what=what,
            driver=driver,
        )


class StorageFull(DatabaseFault):
    code = "storage_full"

    def __init__(self, what: str, driver: str = "") -> None:
        super().__init__(
            f"the disk under the database is full ({what}): this change was not stored. "
            "Stored data is intact and can still be read; the operator must free space on "
            "the database volume, then retry",
            what=what,
            driver=driver,
        )


@contextmanager
def translated() -> Iterator[None]:
    """Raise a driver or pool error that is a fault as that fault (``from`` the original)."""
    try:
        yield
    except (DBAPIError, PoolTimeout) as exc:
        fault = translate(exc)
        if fault is not None:
            raise fault from exc
        if isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.DataError):
            raise InvalidInput(
                f"a value cannot be stored by the database: {_text(exc.orig)}", field=None
            ) from exc
        raise


def translate(exc: BaseException) -> DatabaseFault | None:
    """The fault a driver or pool error stands for, or None when it is not one."""
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("no database connection became free in time", str(exc))
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return _sqlite(orig)
    if isinstance(orig, psycopg.Error):
        fault = _postgres(orig)
        if fault is not None:
            return fault
    if exc.connection_invalidated:
        return DatabaseUnavailable("the database connection was lost", _text(orig))
    return None


def _sqlite(orig: sqlite3.Error) -> DatabaseFault | None:
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None:
        return None
    driver = f"SQLite {getattr(orig, 'sqlite_errorname', code)}: {_text(orig)}"
    primary = code & 0xFF
    if primary == SQLITE_FULL:
        return StorageFull("no space left for the SQLite database", driver)
    what = _SQLITE_UNAVAILABLE.get(primary)
    return None if what is None else DatabaseUnavailable(what, driver)


def _postgres(orig: psycopg.Error) -> DatabaseFault | None:
    state = orig.sqlstate
    driver = f"PostgreSQL {state or 'client'}: {_text(orig)}"
    if state == PG_DISK_FULL:
        return StorageFull("the database server has no space left", driver)
    if state is None and isinstance(orig, psycopg.OperationalError):
        return DatabaseUnavailable("cannot reach the database server", driver)
    if state is not None and (state.startswith("08") or state in _PG_UNAVAILABLE):
        what = _PG_UNAVAILABLE.get(state, "the connection to the database server failed")
        return DatabaseUnavailable(what, driver)
    return None


def _text(orig: BaseException | None) -> str:
    return " ".join(str(orig).split())[:300]


class FaultLog:
    """How a background loop reports a database fault: a WARNING when it starts failing,
    an INFO line when it works again, and DEBUG in between, so an hour-long outage is
    two lines in the log, not one per retry."""

    def __init__(self, logger: logging.Logger, activity: str) -> None:
        self.logger = logger
        self.activity = activity
        self.since: float | None = None

    def failed(self, reason: str, then: str = "will retry") -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.logger.warning("%s failed: %s; %s", self.activity, reason, then)
        else:
            self.logger.debug("%s failed again: %s", self.activity, reason)

    def recovered(self) -> None:
        if self.since is not None:
            self.logger.info(
                "%s works again after %.1f s", self.activity, time.monotonic() - self.since
            )
            self.since = None
