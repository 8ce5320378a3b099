"""Import and export against the real databases (a SQLite file and PostgreSQL), no server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from heurist.db.engine import Database
from heurist.db.schema import categories, entries, vector_changes, vectors
from heurist.limits import PRIORITY_IMPORT
from heurist.runtime import Runtime
from heurist.transfer.errors import DeletionRefused, InvalidRecord
from heurist.transfer.importer import write_plan
from heurist.transfer.plan import build_plan
from heurist.transfer.service import export_file, validate_file
from tests.conftest import PG_ADMIN
from tests.support.transfer_data import CATEGORIES, ENTRIES, bulk_file, write_jsonl


def load(db: Database, path: Path, mode: str = "upsert", *, allow_delete: bool = False) -> None:
    write_plan(db, validate_file(db, path, mode=mode, allow_delete=allow_delete), mode=mode)


def count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.fixture
def empty_db(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A second, empty store on the same backend as ``db``."""
    from heurist.db.migrate import upgrade

    if db_url.startswith("sqlite"):
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        upgrade(database)
        yield database
        database.dispose()
        return
    template = request.getfixturevalue("pg_template")
    name = f"heurist_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    database = Database(f"postgresql://postgres@127.0.0.1:5432/{name}")
    yield database
    database.dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("suffix", [".jsonl", ".zip", ".csv"])
def test_round_trip_gives_identical_files(
    db: Database, empty_db: Database, tmp_path: Path, suffix: str
) -> None:
    load(db, write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES))
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    assert export_file(db, first) == {"category": 2, "experience": 2, "manual": 1}

    load(empty_db, first)
    export_file(empty_db, second)

    assert first.read_bytes() == second.read_bytes()
    with empty_db.read() as conn:
        rows = conn.execute(select(entries).order_by(entries.c.id)).all()
    assert {r.id for r in rows} >= {"exp-1", "man-1"}
    assert {r.embedding_status for r in rows} == {"pending"}
    assert {r.priority for r in rows} == {PRIORITY_IMPORT}


def test_export_is_stable_and_keeps_what_a_round_trip_needs(db: Database, tmp_path: Path) -> None:
    load(db, write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    export_file(db, a)
    export_file(db, b)
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    for needed in (
        '"id": "exp-1"',
        '"author": "ana"',
        '"source": "https://example.org/torch"',
        '"created_at": "',
        "Ünïcode ✓",
    ):
        assert needed in text


def test_imported_rows_are_pending_whatever_the_file_says(db: Database, tmp_path: Path) -> None:
    record = ENTRIES[0] | {"embedding_status": "embedded", "revision": 7, "attempts": 3}
    load(db, write_jsonl(tmp_path / "f.jsonl", [CATEGORIES[0], record]))
    with db.read() as conn:
        row = conn.execute(select(entries).where(entries.c.id == "exp-1")).one()
    assert (row.embedding_status, row.revision, row.attempts) == ("pending", 1, 0)
    assert row.priority == PRIORITY_IMPORT


def test_upsert_updates_by_id_and_bumps_the_revision_only_when_text_changes(
    db: Database, tmp_path: Path
) -> None:
    load(db, write_jsonl(tmp_path / "a.jsonl", CATEGORIES + ENTRIES))
    changed = ENTRIES[0] | {"playbook": "A new playbook."}
    same_text = ENTRIES[2] | {"author": "someone else"}
    load(db, write_jsonl(tmp_path / "b.jsonl", [changed, same_text]))
    with db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(entries))}
    assert len(rows) == 3
    assert (rows["exp-1"].revision, rows["exp-1"].playbook) == (2, "A new playbook.")
    assert (rows["man-1"].revision, rows["man-1"].author) == (1, "someone else")
    assert rows["exp-1"].embedding_status == "pending"


def test_replace_removes_what_the_file_lacks_with_its_vectors(
    runtime_factory: object, tmp_path: Path
) -> None:
    rt: Runtime = runtime_factory(num_embedding_workers=1)  # type: ignore[operator]
    load(rt.db, write_jsonl(tmp_path / "a.jsonl", CATEGORIES + ENTRIES))
    assert rt.queue.drain(30)["status"] == "drained"
    rt.index_sync.sync()
    assert count(rt.db, vectors) >= 3 and len(rt.index) >= 3
    with rt.db.read() as conn:
        man_vectors = set(
            conn.execute(select(vectors.c.id).where(vectors.c.entry_id == "man-1")).scalars()
        )

    kept = [CATEGORIES[0], ENTRIES[0]]  # drops category "ops", the ops experience and man-1
    load(rt.db, write_jsonl(tmp_path / "b.jsonl", kept), mode="replace", allow_delete=True)

    with rt.db.read() as conn:
        assert set(conn.execute(select(entries.c.id)).scalars()) == {"exp-1"}
        assert set(conn.execute(select(categories.c.code)).scalars()) == {"python"}
        assert set(conn.execute(select(vectors.c.entry_id)).scalars()) <= {"exp-1"}
        tombstones = set(
            conn.execute(
                select(vector_changes.c.vector_id).where(vector_changes.c.op == "delete")
            ).scalars()
        )
    assert man_vectors and man_vectors <= tombstones
    rt.index_sync.sync()
    assert not any(rt.index.contains(v) for v in man_vectors)


def test_a_bad_line_at_the_end_of_a_large_file_writes_nothing(db: Database, tmp_path: Path) -> None:
    path = bulk_file(tmp_path / "big.jsonl", 5_000, bad_last=True)
    with pytest.raises(InvalidRecord) as caught:
        load(db, path)
    assert caught.value.where == "line 5001"
    assert caught.value.field == "title"
    assert "line 5001: title:" in caught.value.message
    assert count(db, entries) == 0 and count(db, categories) == 0


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (
            '{"kind": "experience", "category": "bulk", "section": "useful", "title": "t"}',
            "playbook",
        ),
        (
            '{"kind": "experience", "category": "bulk", "section": "sideways", "title": "t", '
            '"playbook": "p"}',
            "section",
        ),
        (
            '{"kind": "experience", "category": "bulk", "section": "contextual", "title": "t", '
            '"playbook": "p"}',
            None,
        ),
        (
            '{"kind": "manual", "category": "bulk", "title": "t", "content": "c", "colour": "red"}',
            "colour",
        ),
        (
            '{"kind": "experience", "category": "nowhere", "section": "useful", "title": "t", '
            '"playbook": "p"}',
            "category",
        ),
        (
            '{"kind": "experience", "id": "bulk-000001", "category": "bulk", "section": "useful", '
            '"title": "t", "playbook": "p"}',
            "id",
        ),
        (
            '{"kind": "experience", "category": "bulk", "section": "useful", "title": "t", '
            '"playbook": "p", "created_at": "yesterday"}',
            "created_at",
        ),
        ("{not json", None),
        ('{"kind": "widget"}', "kind"),
    ],
)
def test_each_rule_names_the_line_and_field(
    db: Database, tmp_path: Path, line: str, field: str | None
) -> None:
    path = bulk_file(tmp_path / "f.jsonl", 3)
    with path.open("a") as handle:
        handle.write(line + "\n")
    with pytest.raises(InvalidRecord) as caught:
        load(db, path)
    assert caught.value.where == "line 5"
    assert caught.value.field == field
    assert count(db, entries) == 0


def test_the_write_rechecks_the_store_inside_its_transaction(db: Database, tmp_path: Path) -> None:
    load(db, write_jsonl(tmp_path / "cats.jsonl", CATEGORIES))
    plan = validate_file(db, write_jsonl(tmp_path / "e.jsonl", ENTRIES), mode="upsert")
    with db.write() as conn:  # the store changes between validation and write
        conn.execute(categories.delete().where(categories.c.code == "ops"))
    with pytest.raises(InvalidRecord, match="line 2: category"):
        write_plan(db, plan, mode="upsert")
    assert count(db, entries) == 0


def test_csv_rows_are_named_as_a_spreadsheet_shows_them(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "kind,code,name,category,section,title,playbook\n"
        "category,ops,Operations,,,,\n"
        "experience,,,ops,useful,Title,Playbook\n"
        "experience,,,ops,useful,,Playbook\n"
    )
    with pytest.raises(InvalidRecord) as caught:
        load(db, path)
    assert (caught.value.where, caught.value.field) == ("row 4", "title")


def test_build_plan_refuses_a_duplicate_id() -> None:
    record = dict(ENTRIES[0])
    with pytest.raises(InvalidRecord, match="line 2: id: id 'exp-1' appears twice"):
        build_plan([("line 1", record), ("line 2", record)])


@pytest.mark.parametrize(
    "lines",
    [[], ["", "   "], [CATEGORIES[0] | {"code": "other"}], [CATEGORIES[0], ENTRIES[0]]],
    ids=["empty", "blank-lines", "none-of-the-store", "one-of-three"],
)
def test_a_replace_that_deletes_more_than_it_keeps_is_refused(
    db: Database, tmp_path: Path, lines: list[object]
) -> None:
    load(db, write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES))
    path = tmp_path / "replace.jsonl"
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
        encoding="utf-8",
    )
    with pytest.raises(DeletionRefused) as caught:
        load(db, path, mode="replace")
    assert "would delete" in caught.value.message and "--allow-delete" in caught.value.message
    assert count(db, entries) == 3 and count(db, categories) == 2

    if lines:  # confirmed, it goes ahead
        load(db, path, mode="replace", allow_delete=True)
        assert count(db, entries) < 3


def test_a_replace_that_keeps_most_of_the_store_needs_no_confirmation(
    db: Database, tmp_path: Path
) -> None:
    load(db, write_jsonl(tmp_path / "seed.jsonl", CATEGORIES + ENTRIES))
    first = tmp_path / "all.jsonl"
    export_file(db, first)
    load(db, first, mode="replace")  # deletes nothing
    assert count(db, entries) == 3
