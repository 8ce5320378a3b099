"""The data directory and the SQLite files are private to the user running heurist.

The memory may hold a team's internal knowledge, and the admin token sits beside it:
the directory is made 0700 and the database files 0600 (SQLite gives its -wal and -shm
files the database file's mode). Ones that already exist with wider modes are narrowed,
with a log line saying so.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (created if missing)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _narrow(path, DIR_MODE)
    return path


def private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would follow the umask), and
    narrow an existing one and its companions."""
    if not path.parent.is_dir():
        return  # SQLite will say the file cannot be opened
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for suffix in SQLITE_SUFFIXES:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _narrow(companion, FILE_MODE)


def _narrow(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
            log.info("narrowed %s from mode %o to %o", path, current, current & mode)
    except OSError as exc:  # not ours to change (another owner): leave it
        log.warning("could not narrow the mode of %s: %s", path, exc)
