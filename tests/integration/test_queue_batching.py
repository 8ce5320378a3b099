"""Length-aware model batches keep every queue promise (DESIGN §3), on both backends.

A claim's chunks are sorted by length and cut into several model calls by a token budget
(``heurist.queue.batching``); the claim, the lease and the guarded write-back stay per row.
The budget here is small, so every claim below takes several model calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from heurist.db.engine import Database
from heurist.db.schema import vectors
from heurist.embedding.chunking import manual_chunks
from heurist.queue import sql
from heurist.queue.batching import token_lengths
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore
from tests.support.clock import FakeClock
from tests.support.embedders import ScriptedEmbedder
from tests.support.queue import drain, make_worker, rows, vector_counts
from tests.support.wait import wait_for

BUDGET = 600  # padded words per model call (the hash embedder counts words)


@pytest.fixture
def store(db: Database) -> EntryStore:
    CategoryStore(db).create("py", "Python")
    return EntryStore(db)


def content(i: int, words: int) -> str:
    return " ".join(f"w{i}x{j}" + ("." if j % 15 == 14 else "") for j in range(words))


def add_manuals(store: EntryStore, lengths: list[int], *, marker: str = "") -> list[str]:
    """Manuals of the given word counts (long ones give several chunks)."""
    return [
        store.create(
            "manual",
            {"category": "py", "title": f"m{i}{marker}", "content": content(i, n) + marker},
        )["id"]
        for i, n in enumerate(lengths)
    ]


LENGTHS = [430, 12, 250, 30, 5, 180, 700, 60, 8, 320]


def test_sorted_batches_store_each_chunk_vector_in_place(db: Database, store: EntryStore) -> None:
    ids = add_manuals(store, LENGTHS)
    embedder = ScriptedEmbedder()
    drain(make_worker(db, embedder, batch_size=len(ids), batch_tokens=BUDGET))

    assert len(embedder.calls) > 2  # one claim, several model calls
    for call in embedder.calls:
        lengths = token_lengths(embedder, call)
        assert lengths == sorted(lengths, reverse=True)  # longest first
        assert len(call) == 1 or len(call) * lengths[0] <= BUDGET  # padded within budget
    state = rows(db)
    assert {state[i].embedding_status for i in ids} == {"embedded"}
    with db.read() as conn:
        stored = conn.execute(
            select(
                vectors.c.entry_id, vectors.c.chunk_index, vectors.c.chunk_text, vectors.c.vector
            )
        ).all()
    expected_chunks = sum(len(manual_chunks(f"m{i}", None, content(i, n))) for i, n in
                          enumerate(LENGTHS))  # fmt: skip
    assert len(stored) == expected_chunks
    for row in stored:  # each vector is its own chunk's, wherever the sort put it
        want = ScriptedEmbedder().embed([row.chunk_text])[0]
        assert np.allclose(np.frombuffer(row.vector, dtype=np.float32), want)


def _run_gated(db: Database, embedder: ScriptedEmbedder, **cfg: Any) -> threading.Thread:
    embedder.gate = threading.Event()
    worker = make_worker(db, embedder, **cfg)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    assert embedder.entered.wait(30)
    return thread


def test_edit_and_delete_mid_batch_are_guarded(db: Database, store: EntryStore) -> None:
    ids = add_manuals(store, LENGTHS)
    embedder = ScriptedEmbedder()
    thread = _run_gated(db, embedder, batch_size=len(ids), batch_tokens=BUDGET)
    edited, deleted = ids[1], ids[6]  # a short one (a late call) and the longest (the first)
    store.update(edited, "manual", {"content": "rewritten while the claim was embedding"})
    store.delete(deleted)
    embedder.gate.set()  # type: ignore[union-attr]
    thread.join(30)

    assert len(embedder.calls) > 2
    state = rows(db)
    assert deleted not in state  # nothing resurrected
    assert state[edited].embedding_status == "pending"  # stale vectors dropped
    assert vector_counts(db)[edited] == 0
    others = set(ids) - {edited, deleted}
    assert {state[i].embedding_status for i in others} == {"embedded"}
    drain(make_worker(db, ScriptedEmbedder(), batch_tokens=BUDGET))
    row = rows(db)[edited]
    assert (row.embedding_status, row.embedded_revision) == ("embedded", row.revision)
    assert vector_counts(db)[edited] == 1


def test_heartbeat_keeps_every_row_of_the_claim_across_model_calls(
    db: Database, store: EntryStore
) -> None:
    ids = add_manuals(store, LENGTHS)
    clock = FakeClock()
    embedder = ScriptedEmbedder()
    embedder.gate = threading.Event()
    worker = make_worker(
        db,
        embedder,
        clock=clock,
        batch_size=len(ids),
        batch_tokens=BUDGET,
        lease_seconds=10.0,
        heartbeat_interval=0.02,
    )
    worker.heartbeat.start()
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        assert embedder.entered.wait(30)
        first_lease = max(rows(db)[i].lease_expires_at for i in ids)
        clock.advance(8.0)
        wait_for(
            lambda: all(rows(db)[i].lease_expires_at >= clock() + 10.0 for i in ids),
            message="the heartbeat did not renew the lease of every row of the claim",
        )
        with db.write() as conn:
            stolen = sql.claim(conn, holder="thief", limit=50, now=first_lease + 1.0,
                               lease_seconds=5)  # fmt: skip
        assert stolen == []
    finally:
        embedder.gate.set()
        thread.join(30)
        worker.heartbeat.stop()
    assert len(embedder.calls) > 2
    assert {rows(db)[i].embedding_status for i in ids} == {"embedded"}


def test_poison_fails_alone_when_its_chunk_shares_a_call_with_others(
    db: Database, store: EntryStore
) -> None:
    good = add_manuals(store, LENGTHS)
    (bad,) = add_manuals(store, [40], marker=" POISON")
    drain(make_worker(db, ScriptedEmbedder(), batch_size=20, batch_tokens=BUDGET))
    state = rows(db)
    assert {state[i].embedding_status for i in good} == {"embedded"}
    assert state[bad].embedding_status == "failed"
    assert "poisoned text" in state[bad].last_error
    assert state[bad].attempts == 1
    assert vector_counts(db)[bad] == 0
    assert sum(vector_counts(db).values()) == sum(
        len(manual_chunks(f"m{i}", None, content(i, n))) for i, n in enumerate(LENGTHS)
    )


def test_an_outage_in_a_later_call_releases_the_whole_claim(
    db: Database, store: EntryStore
) -> None:
    ids = add_manuals(store, LENGTHS)
    embedder = ScriptedEmbedder()

    class DownAfterFirstCall(ScriptedEmbedder):
        def _embed(self, texts: list[str]) -> np.ndarray:
            self.down = bool(self.calls)
            return super()._embed(texts)

    embedder = DownAfterFirstCall()
    worker = make_worker(db, embedder, batch_size=len(ids), batch_tokens=BUDGET)
    worker.run_once()
    state = rows(db)
    assert {state[i].embedding_status for i in ids} == {"pending"}  # nothing half-written
    assert {state[i].attempts for i in ids} == {0}  # refunded
    assert vector_counts(db) == Counter()
