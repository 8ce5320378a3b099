"""Scale-out on the real PostgreSQL with real `heurist worker` processes (issue 8).

- 3 worker processes x 2 threads on 5,000 entries: each embedded exactly once, proven
  by the database (attempts, vectors, vector upserts) and by the per-batch logs.
- A worker process killed with SIGKILL mid-batch: its rows are reclaimed after the
  lease by the surviving processes, and still embedded only once.
- Pause on one API instance stops the workers of every process; resume and writes
  on one instance wake the other processes' workers long before their poll interval
  (within half of it: the bounds used to be 2 s and 5 s, a guess at the machine's speed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from heurist.db.engine import Database
from heurist.queue.control import QueueControl
from heurist.signals import Signal
from tests.conftest import make_settings
from tests.support.server import LiveServer, free_port
from tests.support.wait import wait_for
from tests.support.worker_process import (
    WorkerProcess,
    bulk_experiences,
    exactly_once_report,
    query,
    status_counts,
)

WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    yield db
    db.dispose()


@pytest.fixture
def workers(tmp_path: Path, pg_url: str) -> Iterator[WorkerFactory]:
    started: list[WorkerProcess] = []

    def make(
        name: str, threads: int = 2, metrics_port: int | None = None, **env: str
    ) -> WorkerProcess:
        log = tmp_path / f"{name}.log"
        proc = WorkerProcess(log, pg_url, threads=threads, metrics_port=metrics_port, **env)
        started.append(proc.start())
        return proc

    yield make
    for proc in started:
        proc.stop()


def notify_queue(pg_url: str) -> None:
    query(pg_url, "SELECT pg_notify('heurist_queue', 'test')")


def test_three_worker_processes_embed_5000_entries_exactly_once(
    pg_url: str, pg_db: Database, workers: WorkerFactory
) -> None:
    procs = [workers(f"w{n}", threads=2, HEURIST_WORKER_POLL_INTERVAL="1") for n in range(3)]
    for proc in procs:
        proc.wait_ready()
    ids = bulk_experiences(pg_db, 5000)
    notify_queue(pg_url)
    wait_for(
        lambda: status_counts(pg_url) == {"embedded": 5000},
        timeout=240,
        message="the three processes did not embed the 5,000 entries",
        every=0.5,
    )
    facts = exactly_once_report(pg_url)
    assert facts == {"attempts=1": 5000, "vectors=1": 5000, "upserts=1": 5000}
    # A batch's log line is written just after its rows commit: let the last ones land.
    wait_for(
        lambda: sum(len(proc.completed_ids()) for proc in procs) >= 5000,
        timeout=60,
        message="batch log lines are missing",
    )
    per_process = [proc.completed_ids() for proc in procs]
    completed = [entry for done in per_process for entry in done]
    assert len(completed) == 5000, "some batch was completed twice or not logged"
    assert set(completed) == set(ids)
    assert all(per_process), f"a process did no work: {[len(d) for d in per_process]}"
    assert not any("crashed" in proc.log() for proc in procs)


def test_sigkilled_worker_rows_are_reclaimed_after_the_lease(
    pg_url: str, pg_db: Database, workers: WorkerFactory
) -> None:
    poll = {"HEURIST_WORKER_POLL_INTERVAL": "0.5"}
    # One huge batch keeps the victim's rows `processing` for a while: its write-back of
    # a thousand vectors takes long enough for the kill to land in the middle. Its lease is
    # short, so its orphans are reclaimed soon after the kill.
    victim = workers(
        "victim", threads=1, HEURIST_WORKER_BATCH_SIZE="1000", HEURIST_LEASE_SECONDS="3", **poll
    )
    victim.wait_ready()
    # The survivors' own leases are long: with 3 s, a survivor's batch on a loaded machine
    # outlived its lease (its heartbeat thread runs at the workers' niceness), the other
    # survivor took a row over, and the first one's log line said 15 of 16 embedded.
    survivors = [
        workers(
            f"s{n}", threads=2, HEURIST_WORKER_BATCH_SIZE="16", HEURIST_LEASE_SECONDS="60", **poll
        )
        for n in (1, 2)
    ]
    for proc in survivors:
        proc.wait_ready()
    control = QueueControl(pg_db, Signal())
    control.pause()
    ids = bulk_experiences(pg_db, 3000)
    held = (
        "SELECT id, lease_expires_at FROM entries WHERE embedding_status = 'processing' "
        "AND claimed_by LIKE '%%:worker:' || %s || '/%%'"
    )
    control.resume()
    notify_queue(pg_url)
    assert victim.proc is not None
    wait_for(
        lambda: len(query(pg_url, held, str(victim.proc.pid))) >= 500,  # type: ignore[union-attr]
        timeout=30,
        message="the victim never claimed its batch",
        every=0.01,
    )
    victim.kill()
    orphans = dict(query(pg_url, held, str(victim.proc.pid)))
    assert len(orphans) >= 500, "the kill should land while the batch is in flight"

    wait_for(
        lambda: status_counts(pg_url) == {"embedded": 3000},
        timeout=180,
        message="the survivors did not finish the queue",
        every=0.5,
    )
    rows = query(
        pg_url, "SELECT id, attempts, embedded_at FROM entries WHERE id = ANY(%s)", list(orphans)
    )
    # Taken by the victim (attempt 1), then by a survivor once the lease ran out (attempt 2).
    assert {attempts for _, attempts, _ in rows} == {2}
    assert all(embedded_at >= orphans[entry] - 0.01 for entry, _, embedded_at in rows)
    facts = exactly_once_report(pg_url)
    assert facts["vectors=1"] == 3000 and facts["upserts=1"] == 3000
    assert facts["attempts=1"] + facts["attempts=2"] == 3000
    wait_for(  # the last batch's log line lands just after its rows commit
        lambda: sum(len(p.completed_ids()) for p in [*survivors, victim]) >= len(ids),
        timeout=60,
        message="batch log lines are missing",
    )
    by_survivors = [entry for proc in survivors for entry in proc.completed_ids()]
    assert sorted(by_survivors + victim.completed_ids()) == sorted(ids)
    assert set(orphans) <= set(by_survivors)
    assert not any("crashed" in proc.log() for proc in survivors)


@pytest.fixture
def api(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(name: str, **overrides: object) -> LiveServer:
        settings = make_settings(tmp_path / name, pg_url, **overrides)
        server = LiveServer(settings)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def create(server: LiveServer, i: int) -> str:
    response = server.client.post(
        "/api/v1/experiences",
        json={
            "category": "ops",
            "section": "useful",
            "title": f"rotate the signing key {i}",
            "playbook": f"Rotate key {i} before it expires; keep the old one a day.",
        },
    )
    response.raise_for_status()
    return str(response.json()["id"])


POLL = 30.0


def test_pause_on_one_instance_stops_every_process_and_writes_wake_them(
    pg_url: str, api: Callable[..., LiveServer], workers: WorkerFactory
) -> None:
    slow_poll = {"HEURIST_WORKER_POLL_INTERVAL": str(POLL)}
    a = api("a", num_embedding_workers=0)
    b = api("b", num_embedding_workers=1, worker_poll_interval=POLL)
    ports = [free_port(), free_port()]
    procs = [workers(f"w{n}", threads=2, metrics_port=ports[n], **slow_poll) for n in range(2)]
    for proc in procs:
        proc.wait_ready()
    a.client.post("/api/v1/categories", json={"code": "ops", "name": "Ops"}).raise_for_status()

    # A write on instance A (no workers of its own) wakes the other processes at once.
    entry = create(a, 0)
    wait_for(
        lambda: (
            a.client.get(f"/api/v1/experiences/{entry}").json()["embedding_status"] == "embedded"
        ),
        timeout=POLL / 2,
        message="the write on A did not wake any worker elsewhere",
    )

    # Pause on A: nobody anywhere claims, though every process is alive and was woken.
    a.admin.post("/admin/queue/pause").raise_for_status()
    paused_ids = [create(a, i) for i in range(1, 41)]
    # Woken by the writes, every worker of every process found the queue paused, as their
    # reports to the registry say (this was a 2 s sleep).
    wait_for(
        lambda: {state for (state,) in query(pg_url, "SELECT state FROM workers")} == {"paused"},
        timeout=POLL / 2,
        message=lambda: f"not every worker paused: {query(pg_url, 'SELECT * FROM workers')}",
    )
    assert status_counts(pg_url) == {"embedded": 1, "pending": 40}
    assert all(p.proc is not None and p.proc.poll() is None for p in procs)

    # Resume on B: the NOTIFY wakes A's peers and the worker processes at once.
    b.admin.post("/admin/queue/resume").raise_for_status()
    wait_for(
        lambda: status_counts(pg_url) == {"embedded": 41},
        timeout=POLL / 2,
        message="resume did not wake the workers",
    )

    # Each worker process serves its own counters: together they tell the same story as
    # its batch log lines (a line is written just after the rows commit, so let it land).
    def agree() -> bool:
        logged = [e for p in procs for e in p.completed_ids()]
        counted = sum(scrape(port)["heurist_jobs_succeeded_total"] for port in ports)
        return counted == len(logged)

    wait_for(agree, timeout=60, message="worker counters and batch logs disagree")
    by_processes = [e for p in procs for e in p.completed_ids()]
    assert set(by_processes) & set(paused_ids), "the worker processes took no part"
    scraped = [scrape(port) for port in ports]
    assert all(m['heurist_worker_alive{worker="w0"}'] == 1 for m in scraped)


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in pairs}
