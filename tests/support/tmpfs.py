"""A small filesystem of its own for full-disk tests: a tmpfs mounted in a temp dir.

Mounting needs root (the tests run as root here). Where mounting is impossible the
test is skipped, except under ``CI=true``, where it fails. The mount is always
undone, lazily if something still holds a file open.

    with small_tmpfs(16 * MB) as root:
        filler = fill(root)   # the disk is now full
        filler.unlink()       # space is back
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MB = 1024 * 1024


@contextmanager
def small_tmpfs(size: int) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="heurist-tmpfs-"))
    try:
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(root)]
        done = _run(mount)
        if done is not None:
            _refuse(f"cannot mount a tmpfs ({done})")
        try:
            yield root
        finally:
            if _run(["umount", str(root)]) is not None:
                _run(["umount", "-l", str(root)])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fill(root: Path, name: str = "filler") -> Path:
    """Write a file until the filesystem refuses another byte; returns it."""
    path = root / name
    chunk = MB
    with path.open("wb", buffering=0) as out:
        while chunk:
            try:
                out.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
        os.fsync(out.fileno())
    return path


def free_bytes(root: Path) -> int:
    stats = os.statvfs(root)
    return stats.f_bavail * stats.f_frsize


def _run(cmd: list[str]) -> str | None:
    """None on success, else why not."""
    if shutil.which(cmd[0]) is None:
        return f"{cmd[0]} is not installed"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()


def _refuse(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, and CI=true requires the full-disk tests")
    pytest.skip(reason)
