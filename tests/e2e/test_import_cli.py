"""``heurist import`` against a live server: the queue is drained, held by a leased pause
while the file is written, and released; a killed importer's pause lapses; an
operator's pause makes the import stop at once instead of hanging."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heurist.transfer.service import import_plan, validate_file
from tests.support.server import LiveServer
from tests.support.transfer_data import CATEGORIES, ENTRIES, bulk_file, write_jsonl
from tests.support.wait import wait_for

HEURIST = str(Path(sys.executable).with_name("heurist"))
LEASE = 2.0


def cli_env(server: LiveServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEURIST_")}
    s = server.settings
    env |= {
        "HEURIST_DATA_DIR": str(s.data_dir),
        "HEURIST_DATABASE_URL": s.resolved_database_url,
        "HEURIST_API_URL": server.url,
        "HEURIST_ADMIN_TOKEN": str(s.admin_token),
        "HEURIST_EMBEDDING_PROVIDER": "hash",
        "HEURIST_IMPORT_PAUSE_LEASE_SECONDS": str(LEASE),
        "NO_COLOR": "1",
        **extra,
    }
    return env


def run_cli(
    server: LiveServer, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEURIST, *args], env=cli_env(server), capture_output=True, text=True, timeout=timeout
    )


def status(server: LiveServer) -> dict[str, Any]:
    result: dict[str, Any] = server.admin.get("/admin/queue/status").json()
    return result


def entry_count(server: LiveServer) -> int:
    return sum(c["total"] for c in status(server)["queue"].values())


def seed(server: LiveServer) -> None:
    server.client.post("/api/v1/categories", json={"code": "python", "name": "Python"})
    for i in range(5):
        server.client.post(
            "/api/v1/experiences",
            json={"category": "python", "section": "useful", "title": f"t{i}", "playbook": "p"},
        ).raise_for_status()


def test_import_drains_pauses_writes_and_resumes(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    seed(server)
    settings = server.settings.model_copy(update={"api_url": server.url})
    plan = validate_file(server.runtime.db, bulk_file(tmp_path / "f.jsonl", 3_000), mode="upsert")
    seen: list[dict[str, Any]] = []

    def observe(_n: int) -> None:  # called after each written batch, inside the write
        seen.append(status(server))

    outcome = import_plan(settings, server.runtime.db, plan, mode="upsert", progress=observe)

    assert outcome.coordinated and outcome.result.entries_created == 3_000
    assert seen, "the write reported no progress"
    for snapshot in seen:
        assert snapshot["paused"] and snapshot["pause"]["import_paused"]
        assert not snapshot["pause"]["operator_paused"]
        # Drained before the pause: the five interactive entries were embedded already.
        assert snapshot["queue"]["embedded"]["total"] == 5
        assert snapshot["queue"]["processing"]["total"] == 0
    after = status(server)
    assert not after["paused"] and after["pause"]["import_paused_by"] is None
    assert sum(c["total"] for c in after["queue"].values()) == 3_005
    assert after["queue"]["failed"]["total"] == 0
    # The workers run again: imported entries get embedded. (This drained all 3,000 with
    # one worker, which on a loaded machine outlasted a 240 s drain: a throughput bound.)
    wait_for(
        lambda: status(server)["queue"]["embedded"]["total"] > 5,
        message="no imported entry was embedded after the import",
    )


def test_cli_import_and_export_against_a_running_server(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    path = write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES)
    polled: list[bool] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            polled.append(bool(status(server)["pause"]["import_paused"]))
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    done = run_cli(server, "import", str(path), "--wait")
    stop.set()
    poller.join()

    assert done.returncode == 0, done.stderr
    assert "entries: 3 new" in done.stdout and "queue held during the write" in done.stdout
    assert "all entries embedded" in done.stdout
    assert status(server)["queue"]["embedded"]["total"] == 3
    assert not status(server)["paused"]
    assert polled and not polled[-1]
    exported = run_cli(server, "export", str(tmp_path / "out.jsonl"))
    assert exported.returncode == 0, exported.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 5


def test_a_bad_line_exits_non_zero_names_it_and_leaves_the_queue_alone(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    done = run_cli(server, "import", str(bulk_file(tmp_path / "bad.jsonl", 5_000, bad_last=True)))
    assert done.returncode == 2
    assert "line 5001: title:" in done.stderr and "nothing was imported" in done.stderr
    assert entry_count(server) == 0 and not status(server)["paused"]


def test_an_importer_killed_mid_import_leaves_no_permanent_pause(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    path = bulk_file(tmp_path / "big.jsonl", 20_000)
    proc = subprocess.Popen(
        [HEURIST, "import", str(path)],
        env=cli_env(server),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: status(server)["pause"]["import_paused"],
            timeout=120,
            message="the importer never paused the queue",
        )
        time.sleep(0.2)  # into the write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # It lapses: an importer's pause is a lease. (How long the lease is, is the business of
    # test_import_pause_lapses_by_itself; this waited LEASE + 5 s on the wall clock.)
    wait_for(lambda: not status(server)["paused"], timeout=60, message="the pause never lapsed")
    assert entry_count(server) == 0  # the killed write was rolled back whole
    seed(server)  # and the workers run again
    assert server.wait_embedded()["status"] == "drained"
    assert status(server)["queue"]["embedded"]["total"] == 5


def test_an_operator_pause_makes_the_import_stop_at_once(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(num_embedding_workers=1)
    server.admin.post("/admin/queue/pause").raise_for_status()
    path = write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES)

    started = time.monotonic()
    done = run_cli(server, "import", str(path), timeout=60)
    assert done.returncode == 4
    assert time.monotonic() - started < 30
    assert "paused by an operator" in done.stderr and "--force-while-paused" in done.stderr
    assert entry_count(server) == 0

    forced = run_cli(server, "import", str(path), "--force-while-paused", timeout=60)
    assert forced.returncode == 0, forced.stderr
    after = status(server)
    assert after["pause"]["operator_paused"] and not after["pause"]["import_paused"]
    assert after["queue"]["pending"]["total"] == 3  # still paused: nothing embedded


def test_import_pause_endpoints_hold_a_lease_and_refuse_a_second_importer(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory()
    path = "/admin/queue/import-pause"
    assert server.client.post(path, json={"holder": "a"}).status_code == 401
    first = server.admin.post(path, json={"holder": "a", "lease_seconds": 30})
    assert first.status_code == 200 and first.json()["import_paused_by"] == "a"
    second = server.admin.post(path, json={"holder": "b", "lease_seconds": 30})
    assert second.status_code == 409 and second.json()["error"]["code"] == "conflict"
    assert server.admin.delete(path, params={"holder": "b"}).json()["import_paused"]
    assert not server.admin.delete(path, params={"holder": "a"}).json()["paused"]
    short = server.admin.post(path, json={"holder": "c", "lease_seconds": 0.3})
    assert short.json()["import_paused"]
    wait_for(lambda: not status(server)["paused"], message="the 0.3 s lease did not lapse")


def test_import_pause_lease_is_bounded(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    for lease in (0.0, 4000.0):
        answer = server.admin.post(
            "/admin/queue/import-pause", json={"holder": "a", "lease_seconds": lease}
        )
        assert answer.status_code == 422
    assert not status(server)["paused"]
