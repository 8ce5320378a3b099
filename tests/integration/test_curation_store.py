"""The curated loop in the store, on a real SQLite file and a real PostgreSQL database:
migration 0005 on a store with data, the baseline revision, concurrent feedback, one
transaction per action, and the state reaching the vector index."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import func, select, text

from heurist.db.engine import Database
from heurist.db.migrate import upgrade
from heurist.db.schema import entry_feedback
from heurist.domain.vocabulary import EntryState, Outcome
from heurist.embedding.hashing import HashEmbedder
from heurist.errors import Conflict, NotFound
from heurist.index.faiss_index import VectorIndex
from heurist.index.sync import IndexSync
from heurist.index.vectors import upsert_entry_vectors
from heurist.search.keyword import Filters, keyword_search
from heurist.store.categories import CategoryStore
from heurist.store.curation import CurationStore
from heurist.store.entries import EntryStore
from tests.conftest import PG_ADMIN


def lesson(store: EntryStore, title: str, category: str = "py") -> str:
    body = {"category": category, "section": "useful", "title": title, "playbook": "Do it."}
    return str(store.create("experience", body)["id"])


@pytest.fixture
def empty_url(db_url: str) -> Iterator[str]:
    """An unmigrated database on the test's backend (the PostgreSQL ones of the fixtures are
    cloned from a template already at head)."""
    if db_url.startswith("sqlite"):
        yield db_url
        return
    name = f"{db_url.rsplit('/', 1)[1]}_m"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{db_url.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_migration_keeps_existing_entries_approved_and_history_starts_at_a_baseline(
    empty_url: str,
) -> None:
    db = Database(empty_url)
    upgrade(db, "0002")
    ts = time.time()
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO categories (code, name, description, created_at, updated_at)"
                " VALUES ('py', 'Py', '', :ts, :ts)"
            ),
            {"ts": ts},
        )
        conn.execute(
            text(
                "INSERT INTO entries (id, kind, category_code, section, title, playbook,"
                " created_at, updated_at, embedding_status, priority, revision, content_hash,"
                " attempts, next_attempt_at, queued_at) VALUES ('old', 'experience', 'py',"
                " 'useful', 'Old lesson', 'Old playbook.', :ts, :ts, 'pending', 0, 1, 'h', 0,"
                " 0, :ts)"
            ),
            {"ts": ts},
        )
    upgrade(db)
    store, curation = EntryStore(db), CurationStore(db)
    old = store.get("old")
    assert old["state"] == EntryState.APPROVED
    assert old["feedback"] == dict.fromkeys(Outcome, 0)
    assert CategoryStore(db).get("py")["review"] is False
    assert curation.revisions("old")["revisions"] == []
    store.update("old", "experience", {"title": "Old lesson, kept"})
    revisions = curation.revisions("old")["revisions"]
    assert [(r["revision"], r["action"]) for r in revisions] == [(2, "update"), (1, "baseline")]
    assert revisions[1]["fields"]["title"] == "Old lesson"
    db.dispose()


def test_concurrent_feedback_loses_no_count(db: Database) -> None:
    CategoryStore(db).create("py", "Python")
    entry_id = lesson(EntryStore(db), "Busy entry")
    curation = CurationStore(db)
    errors: list[BaseException] = []

    def rate() -> None:
        try:
            for _ in range(5):
                curation.feedback(entry_id, Outcome.HELPFUL, note=None, author=None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert EntryStore(db).get(entry_id)["feedback"][Outcome.HELPFUL] == 30
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(entry_feedback)).scalar_one() == 30


def test_a_failed_merge_changes_nothing(db: Database) -> None:
    CategoryStore(db).create("py", "Python")
    store, curation = EntryStore(db), CurationStore(db)
    source = lesson(store, "Source")
    curation.feedback(source, Outcome.HARMFUL, note="broke the build", author=None)
    with pytest.raises(NotFound):
        curation.merge(source, "missing")
    after = store.get(source)
    assert (after["state"], after["superseded_by"]) == (EntryState.APPROVED, None)
    assert after["feedback"][Outcome.HARMFUL] == 1


def test_review_category_proposes_and_state_reaches_the_index(db: Database) -> None:
    cats = CategoryStore(db)
    cats.create("py", "Python", review=True)
    store, curation = EntryStore(db), CurationStore(db)
    entry_id = lesson(store, "Proposed")
    assert store.get(entry_id)["state"] == EntryState.PROPOSED
    embedder = HashEmbedder()
    with db.write() as conn:
        vec = embedder.embed(["Proposed"])
        upsert_entry_vectors(
            conn,
            entry_id=entry_id,
            revision=1,
            model=embedder.model_id,
            chunks=["Proposed"],
            matrix=vec,
        )
    index = VectorIndex(embedder.dim)
    sync = IndexSync(db, index, model=embedder.model_id)
    sync.rebuild()
    approved = [EntryState.APPROVED]
    assert index.search(vec[0], 5, states=approved) == []
    curation.approve(entry_id)
    sync.sync()
    assert [h.entry_id for h in index.search(vec[0], 5, states=approved)] == [entry_id]
    curation.retire(entry_id, "stale")
    sync.sync()
    assert index.search(vec[0], 5, states=approved) == []
    assert [h.entry_id for h in index.search(vec[0], 5, states=[EntryState.RETIRED])] == [entry_id]


def test_keyword_state_filter_is_exact_when_proposals_crowd_the_top(db: Database) -> None:
    CategoryStore(db).create("py", "Python")
    CategoryStore(db).create("inbox", "Inbox", review=True)
    store = EntryStore(db)
    crowd = {lesson(store, "alpha alpha alpha", "inbox") for _ in range(12)}
    kept = {lesson(store, f"alpha beta {i}") for i in range(4)}
    for states, expected in (((EntryState.APPROVED,), kept), ((EntryState.PROPOSED,), crowd)):
        with db.read() as conn:
            hits = keyword_search(conn, "alpha", Filters(states=states), 5)
        assert len(hits) == min(5, len(expected)) and {h.entry_id for h in hits} <= expected
    with db.read() as conn:
        both = keyword_search(
            conn, "alpha", Filters(states=(EntryState.APPROVED,), category="py"), 10
        )
    assert {h.entry_id for h in both} == kept


def _merge_at_barrier(
    db: Database, source: str, into: str, barrier: threading.Barrier, outcomes: list[str]
) -> None:
    curation = CurationStore(db)
    barrier.wait()
    try:
        curation.merge(source, into)
        outcomes.append("merged")
    except Conflict:
        outcomes.append("conflict")


def test_opposite_merges_at_once_leave_one_merged_and_no_deadlock(db: Database) -> None:
    CategoryStore(db).create("py", "Python")
    store = EntryStore(db)
    for round_ in range(5):
        a, b = lesson(store, f"A{round_}"), lesson(store, f"B{round_}")
        outcomes: list[str] = []
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=_merge_at_barrier, args=(db, x, y, barrier, outcomes))
            for x, y in ((a, b), (b, a))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["conflict", "merged"]
        states = {store.get(i)["state"] for i in (a, b)}
        assert states == {EntryState.RETIRED, EntryState.APPROVED}
