"""A second process (``heurist worker``) on the same database obeys the pause flag,
and logs one JSON line per batch with the entry ids when HEURIST_LOG_FORMAT=json."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from heurist.queue.registry import fleet
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.e2e.test_cli import HEURIST, env
from tests.support.runtimes import add, running
from tests.support.wait import wait_for


def wait_for_line(lines: list[str], needle: str) -> None:
    wait_for(
        lambda: any(needle in line for line in lines),
        timeout=120,
        message=lambda: f"no {needle!r} in {lines}",
    )


def statuses(rt: Runtime, ids: list[str]) -> list[str]:
    return [rt.entries.get(i)["embedding_status"] for i in ids]


def test_pause_stops_the_workers_of_another_process(
    settings_factory: Callable[..., Settings], db_url: str, tmp_path: Path
) -> None:
    # This process has no workers; only the `heurist worker` process can embed.
    with running(settings_factory()) as rt:
        rt.categories.create("py", "Python")
        rt.queue.pause()
        ids = [add(rt, title=f"entry {n}") for n in range(3)]
        environ = env(None, HEURIST_DATABASE_URL=db_url, HEURIST_DATA_DIR=str(tmp_path / "w"),
                      HEURIST_EMBEDDING_PROVIDER="hash", HEURIST_LOG_FORMAT="json",
                      HEURIST_WORKER_POLL_INTERVAL="0.1")  # fmt: skip
        proc = subprocess.Popen(
            [HEURIST, "worker", "--workers", "2"], env=environ, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")))
        reader.start()
        try:
            wait_for_line(lines, "worker pool of 2 running")
            # Both of its workers have looked and found the queue paused, as the process
            # reports to the registry (this was a 1 s sleep).
            wait_for(
                lambda: [w["state"] for w in fleet(rt.db, now=time.time())] == ["paused"] * 2,
                timeout=120,
                message=lambda: f"the worker process never paused: {fleet(rt.db, now=time.time())}",
            )
            assert statuses(rt, ids) == ["pending"] * 3
            rt.queue.resume()  # no wake-up reaches the other process: its poll finds the rows
            assert rt.queue.drain(timeout=60) == {"status": "drained", "remaining": 0}
            assert statuses(rt, ids) == ["embedded"] * 3
            wait_for_line(lines, "batch of")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            reader.join(timeout=10)
    assert proc.returncode == 0, "".join(lines[-20:])
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    batches = " ".join(r["message"] for r in records if "batch of" in r["message"])
    assert all(entry_id in batches for entry_id in ids)
