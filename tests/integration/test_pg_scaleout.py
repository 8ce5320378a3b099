"""Several instances on one PostgreSQL database: LISTEN/NOTIFY wake-ups (issue 8).

Each Runtime here has its own signals, PgNotify and connections, so two runtimes in
one test process talk to each other exactly as two processes do: only through the
database. Poll intervals are set to 30 s so that anything faster than half of that is
NOTIFY's doing (the bounds used to be 2 s, a guess at the machine's speed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from heurist.embedding.hashing import HashEmbedder
from heurist.observability.health import health_report
from heurist.queue.pg_notify import QUEUE_CHANNEL
from heurist.runtime import Runtime
from tests.conftest import make_settings
from tests.support.server import LiveServer
from tests.support.wait import wait_for
from tests.support.worker_process import query

POLL = 30.0
SLOW_POLL = {"worker_poll_interval": POLL, "index_sync_interval": POLL}
# Faster than this, a wake-up did it: the poll would take POLL.
WOKEN = POLL / 2
RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def instance(tmp_path: Path, pg_url: str) -> Iterator[RuntimeFactory]:
    made: list[Runtime] = []

    def make(name: str, **overrides: Any) -> Runtime:
        settings = make_settings(tmp_path / name, pg_url, instance_id=name, **overrides)
        rt = Runtime.build(settings, embedder=HashEmbedder())
        rt.start()
        made.append(rt)
        wait_for(
            lambda: rt.notify is not None and rt.notify.listener.connected, message="no LISTEN"
        )
        return rt

    yield make
    for rt in made:
        rt.stop()


def add(rt: Runtime, title: str) -> str:
    if not rt.categories.list():
        rt.categories.create("ops", "Ops")
    data = {"category": "ops", "section": "useful", "title": title, "playbook": title + "."}
    return str(rt.entries.create("experience", data)["id"])


def status(rt: Runtime, entry_id: str) -> str:
    return str(rt.entries.get(entry_id)["embedding_status"])


def idle(rt: Runtime) -> None:
    assert rt.pool is not None
    pool = rt.pool
    wait_for(lambda: all(s.state == "idle" for s in pool.stats), message="workers never idle")


def test_sqlite_has_no_listener(tmp_path: Path) -> None:
    rt = Runtime.build(make_settings(tmp_path), embedder=HashEmbedder())
    assert rt.notify is None


def test_a_write_reaches_other_processes_once_and_is_not_echoed(
    pg_url: str, instance: RuntimeFactory
) -> None:
    a, b = instance("a"), instance("b")
    assert a.notify is not None and b.notify is not None
    with psycopg.connect(pg_url, autocommit=True) as spy:
        spy.execute(f"LISTEN {QUEUE_CHANNEL}")
        before = b.work.generation
        add(a, "pin the compiler version")
        wait_for(
            lambda: b.work.generation > before, timeout=WOKEN, message="A's write did not wake B"
        )
        # Watch a while: B must not publish what it received (it would echo for ever).
        seen = [n.payload for n in spy.notifies(timeout=1.5)]
    assert seen == [a.notify.origin]
    assert a.notify.listener.received == 0, "a process must ignore its own notifications"
    assert b.notify.listener.received == 1


def test_a_write_on_one_instance_wakes_the_workers_of_another(instance: RuntimeFactory) -> None:
    a = instance("api", num_embedding_workers=0, **SLOW_POLL)
    b = instance("workers", num_embedding_workers=1, **SLOW_POLL)
    idle(b)
    entry = add(a, "cache the dependency downloads")
    wait_for(
        lambda: status(a, entry) == "embedded", timeout=WOKEN, message="B's worker slept through it"
    )


def test_the_listener_reconnects_after_its_connection_is_killed(
    pg_url: str, instance: RuntimeFactory
) -> None:
    a = instance("api", num_embedding_workers=0, **SLOW_POLL)
    b = instance("workers", num_embedding_workers=1, **SLOW_POLL)
    assert b.notify is not None
    idle(b)
    killed = query(
        pg_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN%%'",
    )
    assert len(killed) == 2
    notify = b.notify
    wait_for(lambda: notify.listener.connections >= 2, message="the listener did not reconnect")
    _, health = health_report(b)
    assert health["wakeups"]["listening"] and health["wakeups"]["connections"] == 2
    entry = add(a, "rotate the deploy key")
    wait_for(
        lambda: status(a, entry) == "embedded", timeout=WOKEN, message="no wake-up after reconnect"
    )


def test_pause_on_one_instance_holds_the_workers_of_another(
    pg_url: str, instance: RuntimeFactory
) -> None:
    a = instance("api", num_embedding_workers=0, **SLOW_POLL)
    b = instance("workers", num_embedding_workers=2, **SLOW_POLL)
    idle(b)
    a.queue.pause()
    ids = [add(a, f"paused write {i}") for i in range(10)]
    assert b.pool is not None
    pool = b.pool
    # Woken by A's writes, B's workers found the queue paused (this was a 1.5 s sleep).
    wait_for(lambda: all(s.paused for s in pool.stats), timeout=WOKEN, message="B not paused")
    assert {status(a, e) for e in ids} == {"pending"}
    a.queue.resume()
    wait_for(
        lambda: {status(a, e) for e in ids} == {"embedded"},
        timeout=WOKEN,
        message="resume on A did not wake B",
    )


@pytest.fixture
def api_pair(tmp_path: Path, pg_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two API instances on one database; only the second embeds."""
    servers = [
        LiveServer(make_settings(tmp_path / "a", pg_url, num_embedding_workers=0, **SLOW_POLL)),
        LiveServer(make_settings(tmp_path / "b", pg_url, num_embedding_workers=2, **SLOW_POLL)),
    ]
    for server in servers:
        server.start()
    yield servers[0], servers[1]
    for server in servers:
        server.stop()


def found(server: LiveServer, title: str, entry_id: str) -> bool:
    params = {"q": title, "mode": "semantic", "limit": 5}
    results = server.client.get("/api/v1/search", params=params).json()["results"]
    return any(r["id"] == entry_id for r in results)


def test_both_api_instances_find_every_entry_by_meaning_long_before_the_sync_interval(
    pg_url: str, api_pair: tuple[LiveServer, LiveServer]
) -> None:
    a, b = api_pair
    a.client.post("/api/v1/categories", json={"code": "ops", "name": "Ops"}).raise_for_status()
    delays: list[float] = []
    for i in range(15):
        title = f"drain the node pool {i} before the upgrade window"
        body = {"category": "ops", "section": "useful", "title": title, "playbook": "Cordon."}
        writer = a if i % 2 == 0 else b
        entry = writer.client.post("/api/v1/experiences", json=body).json()["id"]
        wait_for(
            lambda: found(a, title, entry) and found(b, title, entry),  # noqa: B023
            timeout=WOKEN,
            message=f"entry {i} not found by meaning on both instances",
            every=0.02,
        )
        visible = time.time()
        ((embedded_at,),) = query(pg_url, "SELECT embedded_at FROM entries WHERE id = %s", entry)
        delays.append(visible - embedded_at)
    assert max(delays) < WOKEN, f"seconds from embedded to found on both: {delays}"
