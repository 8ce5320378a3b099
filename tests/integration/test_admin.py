"""Operating the queue through QueueControl, on a real SQLite file and real PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from heurist.errors import QueuePaused
from heurist.queue import sql
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.support.runtimes import add, running
from tests.support.wait import wait_for


def set_status(rt: Runtime, status: str, *ids: str) -> None:
    with rt.db.write() as conn:
        for entry_id in ids:
            conn.execute(
                text("UPDATE entries SET embedding_status = :s, attempts = 3 WHERE id = :id"),
                {"s": status, "id": entry_id},
            )


def row(rt: Runtime, entry_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        found = conn.execute(
            text("SELECT embedding_status, attempts, claimed_by FROM entries WHERE id = :id"),
            {"id": entry_id},
        ).one()
    return dict(found._mapping)


@pytest.fixture
def rt(settings_factory: Callable[..., Settings]) -> Iterator[Runtime]:
    """A runtime without workers: the queue stays exactly as the test leaves it."""
    with running(settings_factory()) as runtime:
        runtime.categories.create("py", "Python")
        yield runtime


def test_drain_counts_rows_in_flight(rt: Runtime, settings_factory) -> None:
    entry = add(rt)
    with rt.db.write() as conn:
        claimed = sql.claim(conn, holder="elsewhere/b/w0", limit=5, now=time.time(),
                            lease_seconds=600)  # fmt: skip
    assert [c.id for c in claimed] == [entry]
    assert rt.queue.counts()["pending"]["total"] == 0
    # Nothing is pending, but a row is in flight: the drain must not answer drained.
    assert rt.queue.drain(timeout=0.3) == {"status": "timeout", "remaining": 1}
    with rt.db.write() as conn:
        sql.release(conn, holder="elsewhere/b/w0", ids=[entry], not_before=0, refund=True)
    with running(settings_factory(num_embedding_workers=1)) as worker_rt:
        assert worker_rt.queue.drain(timeout=30) == {"status": "drained", "remaining": 0}
    assert row(rt, entry)["embedding_status"] == "embedded"


def test_drain_ignores_failed_rows(rt: Runtime) -> None:
    set_status(rt, "failed", add(rt))
    assert rt.queue.drain(timeout=5)["status"] == "drained"


def test_drain_while_paused_refuses_at_once(rt: Runtime) -> None:
    add(rt)
    rt.queue.pause()
    started = time.monotonic()
    with pytest.raises(QueuePaused) as caught:
        rt.queue.drain(timeout=600)
    # At once rather than at the timeout: the bound is a tenth of the timeout, not a guess
    # at the machine's speed (this test was 'within a second' of a 60 s timeout).
    assert time.monotonic() - started < 60
    assert caught.value.details == {"remaining": 1}


def test_pause_survives_a_restart_and_holds_another_runtimes_workers(
    settings_factory: Callable[..., Settings],
) -> None:
    with running(settings_factory()) as first:
        first.categories.create("py", "Python")
        first.queue.pause()
    # A new life on the same database, this time with workers: still paused.
    with running(settings_factory(num_embedding_workers=2)) as second:
        assert second.queue.is_paused()
        ids = [add(second, title=f"entry {n}") for n in range(3)]
        # Every worker has tried to claim since the writes woke it, and found the queue
        # paused (this was a 1 s sleep, which a loaded machine could spend before a worker
        # ever ran).
        assert second.pool is not None
        pool = second.pool
        wait_for(
            lambda: all(s.paused and s.state == "paused" for s in pool.stats),
            message=lambda: f"workers not paused: {[s.state for s in pool.stats]}",
        )
        assert [row(second, i)["embedding_status"] for i in ids] == ["pending"] * 3
        assert all(row(second, i)["claimed_by"] is None for i in ids)
        second.queue.resume()
        assert second.queue.drain(timeout=30)["status"] == "drained"
        assert {row(second, i)["embedding_status"] for i in ids} == {"embedded"}


def test_retry_failed_moves_exactly_the_rows_asked_for(rt: Runtime) -> None:
    e1, e2, e3 = (add(rt, title=f"e{n}") for n in range(3))
    m1, m2 = (add(rt, "manual", title=f"m{n}") for n in range(2))
    set_status(rt, "failed", e1, e2, m1)
    set_status(rt, "embedded", e3)  # m2 stays pending

    assert rt.queue.retry_failed(kind="manual") == 1
    assert row(rt, m1) == {"embedding_status": "pending", "attempts": 0, "claimed_by": None}
    assert rt.queue.retry_failed(ids=[e1, e3, m2]) == 1  # only e1 is failed among these
    assert row(rt, e1)["embedding_status"] == "pending"
    assert row(rt, e2)["embedding_status"] == "failed"
    assert rt.queue.retry_failed() == 1
    statuses = {i: row(rt, i)["embedding_status"] for i in (e1, e2, e3, m1, m2)}
    assert statuses == {e1: "pending", e2: "pending", e3: "embedded", m1: "pending",
                        m2: "pending"}  # fmt: skip
    assert row(rt, e3)["attempts"] == 3  # an embedded row is never touched


def test_requeue_stale_moves_only_expired_leases(rt: Runtime) -> None:
    stale, live, waiting = (add(rt, title=f"r{n}") for n in range(3))
    now = time.time()
    with rt.db.write() as conn:
        conn.execute(text("UPDATE entries SET priority = 5 WHERE id = :id"), {"id": waiting})
        conn.execute(text("UPDATE entries SET priority = 1 WHERE id = :id"), {"id": stale})
        sql.claim(conn, holder="alive/b/w0", limit=1, now=now, lease_seconds=600)
        # The worker that took `stale` stopped heartbeating 90 seconds ago.
        sql.claim(conn, holder="dead/b/w0", limit=1, now=now - 100, lease_seconds=10)
    assert row(rt, stale)["claimed_by"] == "dead/b/w0"
    assert row(rt, live)["claimed_by"] == "alive/b/w0"

    assert rt.queue.requeue_stale() == 1
    assert row(rt, stale) == {"embedding_status": "pending", "attempts": 1, "claimed_by": None}
    assert row(rt, live)["embedding_status"] == "processing"
    assert row(rt, waiting)["embedding_status"] == "pending"
    assert rt.queue.requeue_stale() == 0


def test_failures_are_listed_and_logged_with_ids_attempts_and_error(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="heurist.queue.worker")
    with running(settings_factory(num_embedding_workers=1)) as rt:
        rt.categories.create("py", "Python")
        good = add(rt, title="Pin torch")
        bad = add(rt, title="A poison pill")
        assert rt.queue.drain(timeout=30)["status"] == "drained"
        failed = rt.queue.failed()
    assert [f["id"] for f in failed] == [bad]
    assert failed[0]["attempts"] == 1
    assert "poison" in failed[0]["last_error"]
    batch_lines = [r.getMessage() for r in caplog.records if "batch of" in r.getMessage()]
    assert any(good in line for line in batch_lines)
    assert all(" ms: " in line and "attempts" in line for line in batch_lines)
    failure = [r.getMessage() for r in caplog.records if f"entry {bad} attempt 1 failed" in
               r.getMessage()]  # fmt: skip
    assert failure and "PermanentEmbeddingError" in failure[0] and "(failed)" in failure[0]
