"""Staged imports at the database: invisible until the publish, settled after it, and a
stalled import that was declared dead publishes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from heurist.db.engine import Database
from heurist.db.schema import entries, imports
from heurist.limits import PRIORITY_IMPORT
from heurist.queue import sql as queue_sql
from heurist.store.categories import CategoryStore
from heurist.store.entries import EntryStore, new_row
from heurist.transfer.staging import (
    ImportAbandoned,
    StagedImport,
    remove_dead_imports,
    staged_count,
)


def rows(n: int) -> list[dict[str, object]]:
    fields = {"category": "py", "section": "useful", "title": "Staged", "playbook": "p"}
    out = []
    for i in range(n):
        row = new_row("experience", fields, priority=PRIORITY_IMPORT, entry_id=f"s-{i}")
        row.update(
            {"context": None, "content": None, "summary": None, "author": None, "source": None}
        )
        out.append(row)
    return out


def count(db: Database) -> int:
    with db.read() as conn:
        return sum(queue_sql.status_counts(conn)["pending"].values())


@pytest.fixture
def store(db: Database) -> EntryStore:
    CategoryStore(db).create("py", "Python")
    return EntryStore(db)


def test_staged_rows_are_invisible_until_the_publish_flag(db: Database, store: EntryStore) -> None:
    steps: list[str] = []
    staged = StagedImport.begin(db, checkpoint=steps.append)
    staged.stage(entries, rows(600))
    assert count(db) == 0
    assert store.list("experience", limit=10)[0] == []
    with pytest.raises(Exception, match="does not exist"):
        store.get("s-1")
    staged.publish(lambda _conn: None)
    assert count(db) == 600 and store.get("s-1")["title"] == "Staged"
    with db.read() as conn:
        assert staged_count(conn) == 0
    assert steps[0] == "staging" and steps[-3:] == ["publishing", "published", "settled"]


def test_a_stalled_import_declared_dead_publishes_nothing(db: Database, store: EntryStore) -> None:
    staged = StagedImport.begin(db)
    staged.stage(entries, rows(300))
    with db.write() as conn:  # it made no progress within its lease
        conn.execute(update(imports).values(lease_expires_at=0.0))
    assert remove_dead_imports(db) == 1
    with pytest.raises(ImportAbandoned):
        staged.publish(lambda _conn: None)
    assert count(db) == 0
    with db.read() as conn:
        assert staged_count(conn) == 0
