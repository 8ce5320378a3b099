"""Index sync from the vector change log, including PostgreSQL's out-of-order commits."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert

from heurist.db.engine import Database
from heurist.db.schema import entries
from heurist.embedding.hashing import HashEmbedder
from heurist.index import vectors as vector_store
from heurist.index.faiss_index import VectorIndex
from heurist.index.sync import IndexSync
from heurist.limits import PRIORITY_INTERACTIVE
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore, new_row

EMBEDDER = HashEmbedder()


def fields(title: str) -> dict[str, str]:
    return {"category": "py", "section": "useful", "title": title, "playbook": title}


@pytest.fixture
def setup(db: Database) -> tuple[EntryStore, VectorIndex, IndexSync]:
    CategoryStore(db).create("py", "Python")
    index = VectorIndex(EMBEDDER.dim)
    return EntryStore(db), index, IndexSync(db, index, model=EMBEDDER.model_id)


def store_vector(conn, entry_id: str, text: str) -> None:  # type: ignore[no-untyped-def]
    vector_store.upsert_entry_vectors(
        conn,
        entry_id=entry_id,
        revision=1,
        model=EMBEDDER.model_id,
        chunks=[text],
        matrix=EMBEDDER.embed([text]),
    )


def embedded_entry(db: Database, title: str) -> str:
    row = new_row("experience", fields(title), priority=PRIORITY_INTERACTIVE, entry_id=None)
    with db.write() as conn:
        conn.execute(insert(entries).values(**row))
        store_vector(conn, row["id"], title)
    return str(row["id"])


def test_sync_applies_upserts_replacements_and_deletions(db: Database, setup) -> None:
    store, index, sync = setup
    a = embedded_entry(db, "alpha")
    b = embedded_entry(db, "beta")
    sync.sync()
    assert len(index) == 2
    with db.write() as conn:
        store_vector(conn, a, "gamma")  # re-embedded: replaced, not added
    store.delete(b)
    sync.sync()
    assert len(index) == 1
    hits = index.search(EMBEDDER.embed(["gamma"])[0], 5)
    assert [h.entry_id for h in hits] == [a]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_rebuild_matches_incremental_sync(db: Database, setup) -> None:
    _, index, sync = setup
    for i in range(30):
        embedded_entry(db, f"entry {i}")
    sync.sync()
    query = EMBEDDER.embed(["entry 7"])[0]
    before = [h.entry_id for h in index.search(query, 10)]
    assert sync.rebuild() == 30
    assert [h.entry_id for h in index.search(query, 10)] == before


def test_category_move_reaches_index_filters(db: Database, setup) -> None:
    store, index, sync = setup
    CategoryStore(db).create("ops", "Ops")
    a = embedded_entry(db, "alpha")
    sync.sync()
    store.update(a, "experience", {"category": "ops"})
    sync.sync()
    query = EMBEDDER.embed(["alpha"])[0]
    assert index.search(query, 5, categories=["py"]) == []
    assert [h.entry_id for h in index.search(query, 5, categories=["ops"])] == [a]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_late_commit_of_a_lower_change_number_is_not_skipped(db: Database, setup) -> None:
    """Hold a transaction with a lower change number open while a higher one commits."""
    _, index, sync = setup
    late_row = new_row("experience", fields("late"), priority=0, entry_id=None)
    with db.engine.connect() as held:
        tx = held.begin()
        held.execute(insert(entries).values(**late_row))
        store_vector(held, late_row["id"], "late")  # takes the lower change number
        early = embedded_entry(db, "early")  # commits a higher number first
        sync.sync()
        assert [h.entry_id for h in index.search(EMBEDDER.embed(["early"])[0], 1)] == [early]
        assert len(index) == 1
        assert sync.gaps, "the missing lower number must be remembered as a gap"
        tx.commit()
    sync.sync()
    assert len(index) == 2
    assert not sync.gaps
    found = index.search(EMBEDDER.embed(["late"])[0], 1)
    assert [h.entry_id for h in found] == [late_row["id"]]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_gap_filled_above_the_low_water_mark_is_no_longer_counted(db: Database, setup) -> None:
    """Two lower numbers held open; the higher of them commits: one gap remains, not two."""
    _, index, sync = setup
    rows = [new_row("experience", fields(t), priority=0, entry_id=None) for t in ("a", "b")]
    with db.engine.connect() as first, db.engine.connect() as second:
        held = [(first, first.begin()), (second, second.begin())]
        for (conn, _), row in zip(held, rows, strict=True):
            conn.execute(insert(entries).values(**row))
            store_vector(conn, row["id"], row["title"])
        embedded_entry(db, "top")  # the highest number commits first
        sync.sync()
        assert len(sync.gaps) == 2
        held[1][1].commit()  # the second lowest number fills its gap
        sync.sync()
        assert len(index) == 2
        assert len(sync.gaps) == 1, sync.gaps
        assert sync.lag()["changes_behind"] == 1
        held[0][1].commit()
    sync.sync()
    assert (len(index), sync.gaps, sync.lag()["changes_behind"]) == (3, {}, 0)


def test_rolled_back_number_is_given_up_after_the_timeout(db: Database, setup) -> None:
    _, index, sync = setup
    sync.gap_timeout = 0.0
    row = new_row("experience", fields("ghost"), priority=0, entry_id=None)
    with db.engine.connect() as conn:
        tx = conn.begin()
        conn.execute(insert(entries).values(**row))
        store_vector(conn, row["id"], "ghost")
        tx.rollback()
    embedded_entry(db, "real")
    sync.sync()
    sync.sync()
    assert len(index) == 1
    assert not sync.gaps
    assert sync.lag()["changes_behind"] == 0


def test_check_repairs_a_drifted_index(db: Database, setup) -> None:
    _, index, sync = setup
    embedded_entry(db, "one")
    embedded_entry(db, "two")
    sync.sync()
    index.clear()  # simulate a lost update
    assert sync.check() is True
    assert len(index) == 2
    assert np.isfinite(index.search(EMBEDDER.embed(["one"])[0], 1)[0].score)


def test_old_changes_are_pruned_and_sync_goes_on(db: Database, setup) -> None:
    _, index, sync = setup
    for i in range(5):
        embedded_entry(db, f"entry {i}")
    sync.sync()
    assert sync.prune(retention=-1) == 4  # everything is old; the newest change stays
    embedded_entry(db, "after the prune")
    sync.sync()
    assert len(index) == 6
    fresh = IndexSync(db, VectorIndex(EMBEDDER.dim), model=EMBEDDER.model_id)
    assert fresh.rebuild() == 6
