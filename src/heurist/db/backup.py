"""Online backup of the SQLite database: a consistent copy while the server writes.

SQLite's backup API copies every page of the database in ONE step, inside one read
transaction of the source: in WAL mode that transaction sees a single snapshot (every write
committed before it began, none after) and never blocks a writer, nor is blocked by one. The
copy is written to a temporary file next to the destination, checked with
``PRAGMA integrity_check``, synced, and only then renamed to its name: a backup that failed
leaves no file that looks like one.

PostgreSQL is backed up with its own tools (``pg_dump``/``pg_restore``, docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from heurist.db.engine import Database
from heurist.errors import StoreError

PG_HINT = (
    "the database is PostgreSQL: back it up with pg_dump, e.g. "
    "'pg_dump --format=custom --file=heurist.dump \"$HEURIST_DATABASE_URL\"', and restore "
    "with pg_restore into an empty database (docs/deploy.md, 'Backup and restore')"
)


class BackupError(StoreError):
    """The copy could not be made (or checked); nothing was left at the destination."""

    code = "backup_error"


class BackupUnsupported(BackupError):
    """This database is not backed up by heurist itself (PostgreSQL: pg_dump)."""

    code = "backup_unsupported"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    seconds: float
    entries: int


def backup(db: Database, dest: Path) -> BackupResult:
    """Copy the SQLite database to ``dest`` (which must not exist) and check the copy."""
    if not db.is_sqlite:
        raise BackupUnsupported(PG_HINT)
    source = make_url(db.url).database
    if not source or source == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    if not Path(source).is_file():
        raise BackupError(f"there is no database at {source}: check HEURIST_DATABASE_URL")
    if dest.exists():
        raise BackupError(f"{dest} exists: a backup never overwrites a file; choose a new name")
    if not dest.parent.is_dir():
        raise BackupError(f"the folder {dest.parent} does not exist")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    started = time.monotonic()
    try:
        entries = _copy(Path(source), partial)
        _fsync(partial)
        os.replace(partial, dest)
        _fsync(dest.parent)
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"the backup to {dest} failed: {exc}; nothing was written") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(dest, dest.stat().st_size, time.monotonic() - started, entries)


def _copy(source: Path, target: Path) -> int:
    """The backup API in one step (one snapshot), then the copy's integrity check."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
        check = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {'; '.join(check[:5])}")
        entries = int(dst.execute("SELECT count(*) FROM entries").fetchone()[0])
    finally:
        dst.close()
        src.close()
    return entries


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
