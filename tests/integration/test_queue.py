"""The queue's promises (DESIGN §3), on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from heurist.db.engine import Database
from heurist.db.schema import entries, vectors
from heurist.index import vectors as vector_store
from heurist.limits import PRIORITY_IMPORT
from heurist.queue import sql
from heurist.queue.control import QueueControl
from heurist.queue.pool import WorkerPool
from heurist.queue.worker import PoolSignals, Worker, WorkerConfig
from heurist.signals import Signal
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore
from tests.support.embedders import ScriptedEmbedder

CONFIG = WorkerConfig(
    batch_size=8,
    lease_seconds=5.0,
    heartbeat_interval=0.1,
    poll_interval=0.1,
    max_attempts=3,
    retry_base=0.01,
    retry_max=0.05,
    outage_base=0.02,
)


@pytest.fixture
def store(db: Database) -> EntryStore:
    CategoryStore(db).create("py", "Python")
    return EntryStore(db)


def add(store: EntryStore, n: int, *, text: str = "playbook", **kw: Any) -> list[str]:
    return [
        store.create(
            "experience",
            {"category": "py", "section": "useful", "title": f"t{i}", "playbook": f"{text} {i}"},
            **kw,
        )["id"]
        for i in range(n)
    ]


def make_worker(
    db: Database, embedder: ScriptedEmbedder, name: str = "inst/boot/w0", **cfg: Any
) -> Worker:
    config = dataclasses.replace(CONFIG, **cfg)
    return Worker(db, embedder, holder=name, config=config, signals=PoolSignals())


def rows(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        return {r.id: r for r in conn.execute(select(entries)).all()}


def vector_counts(db: Database) -> Counter[str]:
    with db.read() as conn:
        return Counter(conn.execute(select(vectors.c.entry_id)).scalars().all())


def drain(worker: Worker, rounds: int = 100) -> None:
    for _ in range(rounds):
        if not worker.run_once():
            return


def test_concurrent_claimers_take_each_row_exactly_once(db: Database, store: EntryStore) -> None:
    ids = add(store, 200)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        while True:
            with db.write() as conn:
                got = sql.claim(conn, holder=f"w{n}", limit=7, now=time.time(), lease_seconds=60)
            if not got:
                return
            with lock:
                claimed.extend(c.id for c in got)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert len(set(claimed)) == len(claimed)


def test_worker_embeds_and_stores_one_vector_set(db: Database, store: EntryStore) -> None:
    ids = add(store, 20)
    embedder = ScriptedEmbedder()
    drain(make_worker(db, embedder))
    state = rows(db)
    assert {state[i].embedding_status for i in ids} == {"embedded"}
    assert all(state[i].embedded_revision == state[i].revision for i in ids)
    assert vector_counts(db) == Counter({i: 1 for i in ids})


def test_reembedding_replaces_the_vector(db: Database, store: EntryStore) -> None:
    (entry_id,) = add(store, 1)
    worker = make_worker(db, ScriptedEmbedder())
    drain(worker)
    store.update(entry_id, "experience", {"playbook": "completely different words"})
    drain(worker)
    assert vector_counts(db) == Counter({entry_id: 1})
    with db.read() as conn:
        stored = conn.execute(select(vectors.c.vector)).scalar_one()
    expected = ScriptedEmbedder().embed(["t0\ncompletely different words"])[0]
    assert np.allclose(np.frombuffer(stored, dtype=np.float32), expected)


def test_edit_during_embedding_is_embedded_again(db: Database, store: EntryStore) -> None:
    (entry_id,) = add(store, 1, text="old text")
    embedder = ScriptedEmbedder()
    embedder.gate = threading.Event()
    worker = make_worker(db, embedder)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    assert embedder.entered.wait(10)
    store.update(entry_id, "experience", {"playbook": "new text"})
    embedder.gate.set()
    thread.join()
    assert rows(db)[entry_id].embedding_status == "pending"  # stale result dropped
    assert vector_counts(db) == Counter()
    drain(worker)
    row = rows(db)[entry_id]
    assert (row.embedding_status, row.embedded_revision, row.revision) == ("embedded", 2, 2)
    with db.read() as conn:
        stored = np.frombuffer(conn.execute(select(vectors.c.vector)).scalar_one(), np.float32)
    assert np.allclose(stored, ScriptedEmbedder().embed(["t0\nnew text"])[0])


def test_delete_during_embedding_resurrects_nothing(db: Database, store: EntryStore) -> None:
    (entry_id,) = add(store, 1)
    embedder = ScriptedEmbedder()
    embedder.gate = threading.Event()
    worker = make_worker(db, embedder)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    assert embedder.entered.wait(10)
    store.delete(entry_id)
    embedder.gate.set()
    thread.join()
    assert rows(db) == {}
    assert vector_counts(db) == Counter()


def test_poison_entry_fails_alone_with_its_error(db: Database, store: EntryStore) -> None:
    good = add(store, 7)
    (bad,) = add(store, 1, text="POISON")
    drain(make_worker(db, ScriptedEmbedder()))
    state = rows(db)
    assert {state[i].embedding_status for i in good} == {"embedded"}
    assert state[bad].embedding_status == "failed"
    assert "poisoned text" in state[bad].last_error
    assert state[bad].attempts == 1  # cannot heal: failed at once


def test_back_to_the_queue_with_fresh_attempts_clears_the_last_error(
    db: Database, store: EntryStore
) -> None:
    """retry_failed and an edit of the embedded text both requeue with fresh attempts: the
    old error goes with the old attempts (retry_failed used to keep it)."""
    retried, edited = add(store, 2, text="POISON")
    drain(make_worker(db, ScriptedEmbedder()))
    assert {rows(db)[i].embedding_status for i in (retried, edited)} == {"failed"}
    with db.write() as conn:
        assert sql.retry_failed(conn, ids=[retried]) == 1
    store.update(edited, "experience", {"playbook": "healed text"})
    for entry_id in (retried, edited):
        row = rows(db)[entry_id]
        assert (row.embedding_status, row.attempts, row.last_error) == ("pending", 0, None)


def test_transient_errors_back_off_then_fail_after_max_attempts(
    db: Database, store: EntryStore
) -> None:
    (entry_id,) = add(store, 1)

    class Broken(ScriptedEmbedder):
        def _embed(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model exploded")

    worker = make_worker(db, Broken())
    attempts_seen = []
    deadline = time.monotonic() + 10
    while rows(db)[entry_id].embedding_status != "failed" and time.monotonic() < deadline:
        worker.run_once()
        row = rows(db)[entry_id]
        attempts_seen.append(row.attempts)
        if row.embedding_status == "pending":
            assert row.next_attempt_at > time.time() - 0.01  # backed off, not immediate
        time.sleep(0.02)
    row = rows(db)[entry_id]
    assert row.embedding_status == "failed"
    assert row.attempts == CONFIG.max_attempts
    assert "RuntimeError: model exploded" in row.last_error


def test_provider_outage_burns_no_attempts_and_recovers(db: Database, store: EntryStore) -> None:
    ids = add(store, 10)
    embedder = ScriptedEmbedder()
    embedder.down = True
    worker = make_worker(db, embedder)
    for _ in range(5):
        worker.run_once()
        time.sleep(0.03)
    state = rows(db)
    assert {state[i].embedding_status for i in ids} == {"pending"}
    assert {state[i].attempts for i in ids} == {0}
    assert worker.signals.outage_remaining() > 0 or worker.signals.outage_delay > 0
    embedder.down = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and rows(db)[ids[-1]].embedding_status != "embedded":
        if not worker.run_once():
            time.sleep(0.05)
    assert {r.embedding_status for r in rows(db).values()} == {"embedded"}


def test_expired_lease_is_reclaimed(db: Database, store: EntryStore) -> None:
    (entry_id,) = add(store, 1)
    now = time.time()
    with db.write() as conn:
        first = sql.claim(conn, holder="a/1/w0", limit=5, now=now, lease_seconds=1)
    with db.write() as conn:
        assert sql.claim(conn, holder="b/1/w0", limit=5, now=now + 0.5, lease_seconds=1) == []
    with db.write() as conn:
        second = sql.claim(conn, holder="b/1/w0", limit=5, now=now + 2, lease_seconds=1)
    assert [c.id for c in first] == [c.id for c in second] == [entry_id]
    assert second[0].attempts == 2
    with db.write() as conn:  # the first holder lost it: its completion must not land
        assert not sql.mark_embedded(
            conn, entry_id=entry_id, revision=1, holder="a/1/w0", model="m", now=now
        )


def test_heartbeat_keeps_the_lease_of_a_long_batch(db: Database, store: EntryStore) -> None:
    ids = add(store, 3)
    embedder = ScriptedEmbedder(delay=1.5)
    worker = make_worker(db, embedder, lease_seconds=0.4, heartbeat_interval=0.1)
    worker.heartbeat.start()
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    assert embedder.entered.wait(10)
    stolen: list[str] = []
    while thread.is_alive():
        with db.write() as conn:
            stolen += [
                c.id
                for c in sql.claim(conn, holder="thief", limit=5, now=time.time(), lease_seconds=5)
            ]
        time.sleep(0.1)
    worker.heartbeat.stop()
    assert stolen == []
    assert worker.heartbeat.beats >= 5
    assert {rows(db)[i].embedding_status for i in ids} == {"embedded"}


def test_pause_is_a_database_flag(db: Database, store: EntryStore) -> None:
    add(store, 3)
    control = QueueControl(db, Signal())
    control.pause()
    other_process_view = QueueControl(Database(db.url), Signal())
    assert other_process_view.is_paused()
    worker = make_worker(db, ScriptedEmbedder())
    assert worker.run_once() is False
    assert worker.stats.paused
    control.resume()
    assert worker.run_once() is True


def test_import_pause_lapses_by_itself(db: Database, store: EntryStore) -> None:
    add(store, 1)
    control = QueueControl(db, Signal())
    control.acquire_import_pause("importer-1", lease_seconds=0.3)
    worker = make_worker(db, ScriptedEmbedder())
    assert worker.run_once() is False
    time.sleep(0.4)
    assert not control.is_paused()
    assert worker.run_once() is True


def test_drain_counts_rows_in_flight_and_refuses_while_paused(
    db: Database, store: EntryStore
) -> None:
    add(store, 2)
    control = QueueControl(db, Signal())
    with db.write() as conn:
        sql.claim(conn, holder="x/1/w0", limit=1, now=time.time(), lease_seconds=60)
    assert control.drain(timeout=0.2) == {"status": "timeout", "remaining": 2}
    control.pause()
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        control.drain(timeout=30)
    assert type(info.value).__name__ == "QueuePaused"
    assert time.monotonic() - started < 1.0


def test_interactive_writes_go_before_imports(db: Database, store: EntryStore) -> None:
    imported = add(store, 20, priority=PRIORITY_IMPORT)
    (interactive,) = add(store, 1, text="urgent")
    with db.write() as conn:
        first = sql.claim(conn, holder="w", limit=1, now=time.time(), lease_seconds=60)
    assert [c.id for c in first] == [interactive]
    assert interactive not in imported


def test_start_up_releases_previous_life_and_requeues_other_models(
    db: Database, store: EntryStore
) -> None:
    orphan, embedded, other = add(store, 3)
    with db.write() as conn:
        sql.claim(
            conn, holder="host:serve/oldboot/w0.0", limit=1, now=time.time(), lease_seconds=3600
        )
        conn.execute(
            update(entries)
            .where(entries.c.id == embedded)
            .values(embedding_status="embedded", embedded_model="hash-64")
        )
        conn.execute(
            update(entries)
            .where(entries.c.id == other)
            .values(embedding_status="embedded", embedded_model="old-model")
        )
    pool = WorkerPool(
        db, ScriptedEmbedder(), size=1, config=CONFIG, instance_id="host:serve", work=Signal()
    )
    result = pool.recover(retry_failed=False)
    state = rows(db)
    assert result == {"released": 1, "retried": 0, "requeued_model": 1}
    assert state[orphan].embedding_status == "pending"
    assert state[embedded].embedding_status == "embedded"
    assert state[other].embedding_status == "pending"


def test_write_wakes_an_idle_pool_at_once(db: Database, store: EntryStore) -> None:
    work = Signal()
    store.work = work
    pool = WorkerPool(
        db,
        ScriptedEmbedder(),
        size=2,
        config=dataclasses.replace(CONFIG, poll_interval=60),
        instance_id="wake",
        work=work,
    )
    pool.start()
    try:
        time.sleep(0.3)  # let both workers go idle on their 60 s poll
        (entry_id,) = add(store, 1)
        deadline = time.monotonic() + 5
        while rows(db)[entry_id].embedding_status != "embedded":
            assert time.monotonic() < deadline, "the write did not wake the workers"
            time.sleep(0.02)
    finally:
        pool.stop()


def test_clean_stop_leaves_nothing_processing(db: Database, store: EntryStore) -> None:
    add(store, 40)
    embedder = ScriptedEmbedder(delay=0.3)
    pool = WorkerPool(db, embedder, size=2, config=CONFIG, instance_id="stop", work=Signal())
    pool.start()
    assert embedder.entered.wait(10)
    pool.stop(timeout=10)
    with db.read() as conn:
        processing = conn.execute(
            select(func.count())
            .select_from(entries)
            .where(entries.c.embedding_status == "processing")
        ).scalar_one()
    assert processing == 0
    assert pool.alive == 0


def test_crashed_worker_is_restarted_and_its_rows_released(db: Database, store: EntryStore) -> None:
    add(store, 5)

    class CrashOnce(ScriptedEmbedder):
        crashed = False

    embedder = CrashOnce()
    pool = WorkerPool(db, embedder, size=1, config=CONFIG, instance_id="crash", work=Signal())
    original = Worker._complete

    def crash_once(self: Worker, jobs: Any, matrix: Any) -> None:
        if not embedder.crashed:
            embedder.crashed = True
            raise SystemError("worker bug")
        original(self, jobs, matrix)

    Worker._complete = crash_once  # type: ignore[method-assign]
    try:
        pool.start()
        deadline = time.monotonic() + 15
        while {r.embedding_status for r in rows(db).values()} != {"embedded"}:
            assert time.monotonic() < deadline, rows(db)
            time.sleep(0.05)
    finally:
        Worker._complete = original  # type: ignore[method-assign]
        pool.stop()
    assert pool.stats[0].restarts == 1
    assert vector_counts(db) == Counter({i: 1 for i in rows(db)})


def test_delete_during_write_back_waits_instead_of_deadlocking(
    db: Database, store: EntryStore
) -> None:
    """A delete takes the entry's row before its vectors, as the write-back does."""
    (entry_id,) = add(store, 1)
    worker = make_worker(db, ScriptedEmbedder())
    drain(worker)  # revision 1 embedded: a vector row exists
    store.update(entry_id, "experience", {"playbook": "new words"})
    with db.write() as conn:
        (claimed,) = sql.claim(conn, holder="w/1/w0", limit=1, now=time.time(), lease_seconds=60)
    errors: list[BaseException] = []
    deleter = threading.Thread(target=lambda: _delete_quietly(store, entry_id, errors))
    with db.write() as conn:  # the write-back, held open while the delete starts
        assert sql.mark_embedded(
            conn,
            entry_id=entry_id,
            revision=claimed.revision,
            holder="w/1/w0",
            model="m",
            now=time.time(),
        )
        deleter.start()
        time.sleep(0.5)  # the delete is now waiting on us
        vector_store.upsert_entry_vectors(
            conn, entry_id=entry_id, revision=claimed.revision, model="m",
            chunks=["t0\nnew words"], matrix=ScriptedEmbedder().embed(["t0 new words"]),
        )  # fmt: skip
    deleter.join(30)
    assert errors == []
    assert rows(db) == {}
    assert vector_counts(db) == Counter()


def _delete_quietly(store: EntryStore, entry_id: str, errors: list[BaseException]) -> None:
    try:
        store.delete(entry_id)
    except BaseException as exc:  # surfaced by the assertion in the test
        errors.append(exc)
