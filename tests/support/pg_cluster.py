"""A private PostgreSQL cluster for fault tests: one this test may stop, kill and fill.

The shared server on 127.0.0.1:5432 belongs to everyone's tests and must never be
stopped. A fault test makes its own cluster instead: ``initdb`` in a temporary
directory, ``pg_ctl`` on a free port, listening on loopback and a socket in that
directory. PostgreSQL refuses to run as root, so when the tests run as root (they do
here) the cluster belongs to the ``postgres`` user and every command runs through
``runuser``.

    with private_cluster() as cluster:
        url = cluster.create_database("heurist")
        cluster.stop(mode="immediate")    # the server dies as in a crash
        cluster.start()                   # crash recovery, same port

Without ``initdb`` on this machine the test is skipped, except under ``CI=true``,
where it fails: a fault test that never runs must not look like a pass.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.support.server import free_port

OWNER = "postgres"
START_TIMEOUT = 120  # seconds; crash recovery on a loaded machine can take a while
# The tests kill PostgreSQL, never the machine: fsync buys nothing here but time.
DEFAULT_OPTIONS = {"fsync": "off", "max_connections": "200", "shared_buffers": "32MB"}


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def require_bindir() -> Path:
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.environ.get("CI") == "true":
        pytest.fail("initdb is not installed, and CI=true requires the private-cluster tests")
    pytest.skip("initdb is not installed: no private PostgreSQL cluster for fault tests")


class PrivateCluster:
    def __init__(
        self,
        bindir: Path,
        root: Path,
        options: dict[str, str],
        *,
        data: Path | None = None,
        initdb_args: Sequence[str] = (),
    ) -> None:
        self.bindir = bindir
        self.root = root
        self.data = data or root / "data"
        self.initdb_args = tuple(initdb_args)
        self.log = root / "postgres.log"
        self.port = free_port()
        self.options = options
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{OWNER}@127.0.0.1:{self.port}/{database}"

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", OWNER, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync", "--no-instructions", *self.initdb_args)  # fmt: skip

    def start(self) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            **self.options,
        }
        opts = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts,
                  "-w", "-t", str(START_TIMEOUT), "start")  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` kills the server as a crash would (recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", OWNER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT + 60)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}\n"
                f"server log:\n{self.log_tail()}"
            )


@contextmanager
def private_cluster(
    options: dict[str, str] | None = None,
    *,
    data: Path | None = None,
    initdb_args: Sequence[str] = (),
) -> Iterator[PrivateCluster]:
    """A fresh cluster, started; stopped and deleted afterwards, whatever happened.

    ``data`` puts the data directory elsewhere than the temp dir (say, on a small
    filesystem), ``initdb_args`` adds to initdb's (``--waldir=...``).
    """
    bindir = require_bindir()
    root = Path(tempfile.mkdtemp(prefix="heurist-pg-"))
    for path in (root, data):
        if path is not None and path.exists():
            give_to_owner(path)
    options = {**DEFAULT_OPTIONS, **(options or {})}
    cluster = PrivateCluster(bindir, root, options, data=data, initdb_args=initdb_args)
    try:
        cluster.initdb()
        _start_on_a_free_port(cluster)
        yield cluster
    finally:
        if cluster.running:
            cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def give_to_owner(path: Path) -> None:
    """PostgreSQL runs as its own user when the tests run as root: it owns its dirs."""
    if os.geteuid() == 0:
        owner = pwd.getpwnam(OWNER)
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _start_on_a_free_port(cluster: PrivateCluster, tries: int = 3) -> None:
    """Another process may take the free port between the probe and the start: retry."""
    for attempt in range(tries):
        try:
            cluster.start()
            return
        except RuntimeError:
            if attempt == tries - 1:
                raise
            cluster.port = free_port()
