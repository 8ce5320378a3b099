"""The store on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from heurist.db.engine import Database
from heurist.db.migrate import current_revision, head_revision, upgrade
from heurist.db.schema import entries, vector_changes, vectors
from heurist.errors import Conflict, InvalidInput, NotFound
from heurist.search.keyword import Filters, keyword_search
from heurist.signals import Signal
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore


@pytest.fixture
def stores(db: Database) -> tuple[CategoryStore, EntryStore, list[int]]:
    wakes: list[int] = []
    cats = CategoryStore(db)
    cats.create("py", "Python")
    cats.create("ops", "Operations")
    work = Signal()
    work.subscribe(lambda: wakes.append(1))
    return cats, EntryStore(db, work=work), wakes


def add_vector(db: Database, entry_id: str) -> None:
    with db.write() as conn:
        conn.execute(
            vectors.insert().values(
                entry_id=entry_id,
                chunk_index=0,
                revision=1,
                model="m",
                dim=2,
                vector=b"\x00" * 8,
                chunk_text="x",
                updated_at=0.0,
            )
        )


def exp(**kw: object) -> dict[str, object]:
    base = {"category": "py", "section": "useful", "title": "Pin torch", "playbook": "Pin it."}
    return base | kw


def test_migrations_from_empty_reach_head(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db)  # idempotent on an already-migrated database
    assert current_revision(db) == head_revision()
    db.dispose()


def test_create_is_pending_at_revision_one_and_wakes(stores, db: Database) -> None:
    _, store, wakes = stores
    created = store.create("experience", exp())
    assert created["embedding_status"] == "pending"
    assert created["revision"] == 1
    assert wakes == [1]
    assert store.get(created["id"], "experience")["title"] == "Pin torch"


def test_duplicate_category_conflicts(stores) -> None:
    cats, _, _ = stores
    with pytest.raises(Conflict):
        cats.create("py", "Again")


def test_unknown_category_writes_nothing(stores, db: Database) -> None:
    _, store, _ = stores
    with pytest.raises(InvalidInput) as info:
        store.create("experience", exp(category="nope"))
    assert info.value.field == "category"
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == 0


def test_contextual_requires_context(stores) -> None:
    _, store, _ = stores
    with pytest.raises(InvalidInput) as info:
        store.create("experience", exp(section="contextual"))
    assert info.value.field == "context"


def test_update_of_embedded_text_requeues_with_new_revision(stores) -> None:
    _, store, wakes = stores
    created = store.create("experience", exp())
    updated = store.update(created["id"], "experience", {"playbook": "Pin torch==2.13.0."})
    assert updated["revision"] == 2
    assert updated["embedding_status"] == "pending"
    assert len(wakes) == 2


def test_update_without_text_change_does_not_requeue(stores, db: Database) -> None:
    _, store, wakes = stores
    created = store.create("experience", exp())
    with db.write() as conn:
        conn.execute(entries.update().values(embedding_status="embedded", embedded_revision=1))
    updated = store.update(created["id"], "experience", {"author": "ana", "source": "review"})
    assert updated["revision"] == 1
    assert updated["embedding_status"] == "embedded"
    assert len(wakes) == 1


def test_category_move_without_text_change_logs_vector_change(stores, db: Database) -> None:
    _, store, _ = stores
    created = store.create("experience", exp())
    add_vector(db, created["id"])
    store.update(created["id"], "experience", {"category": "ops"})
    with db.read() as conn:
        ops = conn.execute(select(vector_changes.c.op)).scalars().all()
    assert ops == ["upsert"]


def test_delete_removes_row_and_vectors_with_tombstones(stores, db: Database) -> None:
    _, store, _ = stores
    created = store.create("experience", exp())
    add_vector(db, created["id"])
    store.delete(created["id"], "experience")
    with pytest.raises(NotFound):
        store.get(created["id"])
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(vectors)).scalar_one() == 0
        assert conn.execute(select(vector_changes.c.op)).scalars().all() == ["delete"]


def test_kind_mismatch_is_not_found(stores) -> None:
    _, store, _ = stores
    created = store.create("experience", exp())
    with pytest.raises(NotFound):
        store.get(created["id"], "manual")


def test_cursor_pagination_visits_every_entry_once(stores) -> None:
    _, store, _ = stores
    made = [store.create("experience", exp(title=f"t{i}"))["id"] for i in range(23)]
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.list("experience", limit=5, cursor=cursor)
        seen += [p["id"] for p in page]
        if cursor is None:
            break
    assert seen == made


def test_bad_cursor_is_invalid_input(stores) -> None:
    _, store, _ = stores
    with pytest.raises(InvalidInput):
        store.list("experience", limit=5, cursor="!!notacursor")


def test_keyword_finds_a_write_at_once_with_filters(stores, db: Database) -> None:
    _, store, _ = stores
    a = store.create("experience", exp(title="Flaky tests", playbook="Retry flaky tests once."))
    store.create("experience", exp(category="ops", title="Flaky disks", playbook="Replace."))
    store.create("manual", {"category": "py", "title": "Guide", "content": "About flaky tests."})
    with db.read() as conn:
        hits = keyword_search(conn, "flaky", Filters(category="py", kind="experience"), 10)
        everything = keyword_search(conn, "flaky", Filters(), 10)
    assert [h.entry_id for h in hits] == [a["id"]]
    assert len(everything) == 3


def test_keyword_index_follows_updates_and_deletes(stores, db: Database) -> None:
    _, store, _ = stores
    a = store.create("experience", exp(title="Alpha", playbook="zebra"))
    store.update(a["id"], "experience", {"playbook": "giraffe"})
    with db.read() as conn:
        assert keyword_search(conn, "zebra", Filters(), 10) == []
        assert [h.entry_id for h in keyword_search(conn, "giraffe", Filters(), 10)] == [a["id"]]
    store.delete(a["id"])
    with db.read() as conn:
        assert keyword_search(conn, "giraffe", Filters(), 10) == []


def test_keyword_query_syntax_is_inert(stores, db: Database) -> None:
    _, store, _ = stores
    store.create("experience", exp(title="Quotes", playbook='use "double" quotes AND NOT stars*'))
    with db.read() as conn:
        for query in ['"', "AND OR NOT", "stars*", "a:b", "(((", "NEAR(x y)"]:
            keyword_search(conn, query, Filters(), 10)  # must not raise
