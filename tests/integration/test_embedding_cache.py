"""The embedding cache: the model is never called twice for one text (its calls counted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from heurist.db.engine import Database
from heurist.db.schema import embedding_cache, entries
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore
from heurist.transfer.importer import write_plan
from heurist.transfer.service import export_file, validate_file
from tests.support.embedders import ScriptedEmbedder
from tests.support.queue import drain, make_worker, rows

LONG = "\n\n".join(
    f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(120)) for i in range(4)
)


@pytest.fixture
def store(db: Database) -> EntryStore:
    CategoryStore(db).create("py", "Python")
    CategoryStore(db).create("ops", "Operations")
    return EntryStore(db)


def experience(store: EntryStore, title: str = "Pin torch") -> str:
    fields = {
        "category": "py",
        "section": "useful",
        "title": title,
        "playbook": "use the CPU build",
    }
    return str(store.create("experience", fields)["id"])


def test_unchanged_text_moves_and_reimports_make_no_model_call(
    db: Database, store: EntryStore, tmp_path: Path
) -> None:
    embedder = ScriptedEmbedder()
    worker = make_worker(db, embedder)
    entry = experience(store)
    manual = store.create("manual", {"category": "py", "title": "Guide", "content": LONG})["id"]
    drain(worker)
    # Both went to the model (in length-sorted calls: a short text and a long chunk apart).
    assert any("Pin torch" in t for t in embedder.texts_embedded())
    assert any(t.startswith("Guide") for t in embedder.texts_embedded())
    embedder.calls.clear()

    store.update(entry, "experience", {"author": "ana"})  # not embedded text
    store.update(entry, "experience", {"category": "ops"})  # a move of category
    store.update(manual, "manual", {"category": "ops"})
    drain(worker)
    assert embedder.calls == []

    path = tmp_path / "store.jsonl"
    export_file(db, path)
    write_plan(db, validate_file(db, path, mode="upsert"), mode="upsert")
    assert {r.embedding_status for r in rows(db).values()} == {"pending"}
    drain(worker)
    assert embedder.calls == []
    assert {r.embedding_status for r in rows(db).values()} == {"embedded"}


def test_an_edit_embeds_only_the_changed_chunk_and_a_revert_nothing(
    db: Database, store: EntryStore
) -> None:
    embedder = ScriptedEmbedder()
    worker = make_worker(db, embedder)
    manual = store.create("manual", {"category": "py", "title": "Guide", "content": LONG})["id"]
    drain(worker)
    chunks = len(embedder.texts_embedded())
    assert chunks >= 3
    embedder.calls.clear()

    changed = LONG.replace("Paragraph 3:", "Paragraph three:")
    store.update(manual, "manual", {"content": changed})
    drain(worker)
    assert len(embedder.texts_embedded()) < chunks  # only what changed
    assert any("Paragraph three" in t for t in embedder.texts_embedded())
    embedder.calls.clear()

    store.update(manual, "manual", {"content": LONG})  # back to the text embedded before
    drain(worker)
    assert embedder.calls == []
    assert rows(db)[manual].embedding_status == "embedded"
    assert worker.signals.cache.snapshot()["hits"] >= chunks


def test_a_retry_after_a_lost_write_back_costs_nothing(db: Database, store: EntryStore) -> None:
    embedder = ScriptedEmbedder()
    first = make_worker(db, embedder, holder="inst/boot/w0.0")
    entry = experience(store)
    (claim,) = first.claim()
    # The lease expired and the row went back meanwhile: this worker's write-back is refused.
    with db.write() as conn:
        conn.execute(update(entries).values(embedding_status="pending", claimed_by=None))
    first.process([claim])
    assert rows(db)[entry].embedding_status == "pending"
    assert len(embedder.calls) == 1

    drain(make_worker(db, embedder, holder="inst/boot/w1.0"))
    assert rows(db)[entry].embedding_status == "embedded"
    assert len(embedder.calls) == 1  # the vector computed for the refused write-back


def test_two_entries_with_one_text_are_embedded_once(db: Database, store: EntryStore) -> None:
    embedder = ScriptedEmbedder()
    experience(store, "same")
    experience(store, "same")
    drain(make_worker(db, embedder))
    assert embedder.texts_embedded() == ["same\nuse the CPU build"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(embedding_cache)).scalar_one() == 1
