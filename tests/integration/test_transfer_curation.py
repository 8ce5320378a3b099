"""Import and export of the curated loop: review flags, states, feedback, merges and history,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from heurist.db.engine import Database
from heurist.errors import InvalidInput
from heurist.store.categories import CategoryStore
from heurist.store.curation import CurationStore
from heurist.store.entries import EntryStore
from heurist.transfer.errors import InvalidRecord
from heurist.transfer.importer import write_plan
from heurist.transfer.service import export_file, validate_file
from tests.conftest import PG_ADMIN
from tests.support.transfer_data import write_jsonl


def load(db: Database, path: Path, mode: str = "upsert") -> None:
    write_plan(db, validate_file(db, path, mode=mode), mode=mode)


@pytest.fixture
def other_db(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A second, empty store on the same backend as ``db``."""
    from heurist.db.migrate import upgrade

    if db_url.startswith("sqlite"):
        database = Database(f"sqlite:///{tmp_path / 'other.db'}")
        upgrade(database)
        yield database
        database.dispose()
        return
    template = request.getfixturevalue("pg_template")
    name = f"heurist_other_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    database = Database(f"postgresql://postgres@127.0.0.1:5432/{name}")
    yield database
    database.dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def curated_store(db: Database) -> dict[str, str]:
    """A store with every standing an entry can have; returns the ids by role."""
    CategoryStore(db).create("ops", "Operations")
    CategoryStore(db).create("inbox", "Reviewed", review=True)
    store, curation = EntryStore(db), CurationStore(db)

    def lesson(category: str, title: str) -> str:
        body = {"category": category, "section": "useful", "title": title, "playbook": "Do."}
        return str(store.create("experience", body)["id"])

    ids = {
        "proposed": lesson("inbox", "Proposed"),
        "target": lesson("ops", "Target"),
        "source": lesson("ops", "Source"),
        "retired": lesson("ops", "Retired"),
    }
    curation.feedback(ids["source"], "helpful", note="worked", author="ana")
    curation.feedback(ids["target"], "outdated", note=None, author=None)
    curation.merge(ids["source"], ids["target"])
    curation.retire(ids["retired"], "no longer true")
    store.update(ids["target"], "experience", {"playbook": "Do it twice."})
    return ids


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_round_trip_keeps_states_feedback_merges_and_history(
    db: Database, other_db: Database, tmp_path: Path
) -> None:
    ids = curated_store(db)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    counts = export_file(db, first, with_history=True)
    assert counts["revision"] == 5  # four creates and one update
    load(other_db, first)
    export_file(other_db, second, with_history=True)
    assert second.read_text() == first.read_text()

    records = {r.get("id") or r.get("code"): r for r in lines(first) if r["kind"] != "revision"}
    assert records["inbox"]["review"] is True and records["ops"]["review"] is False
    assert records[ids["proposed"]]["state"] == "proposed"
    source, target = records[ids["source"]], records[ids["target"]]
    assert (source["state"], source["superseded_by"]) == ("retired", ids["target"])
    assert (target["feedback_helpful"], target["feedback_outdated"]) == (1, 1)
    assert records[ids["retired"]]["retired_reason"] == "no longer true"
    moved = CurationStore(other_db).revisions(ids["target"])["revisions"]
    assert [r["action"] for r in moved] == ["update", "create"]


@pytest.mark.parametrize("suffix", [".csv", ".zip"])
def test_csv_round_trip_keeps_the_curation_columns(
    db: Database, other_db: Database, tmp_path: Path, suffix: str
) -> None:
    curated_store(db)
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    export_file(db, first)
    load(other_db, first)
    export_file(other_db, second)
    assert second.read_bytes() == first.read_bytes()
    with pytest.raises(InvalidInput, match="JSONL only"):
        export_file(db, tmp_path / "h.csv", with_history=True)


def test_an_import_update_adds_a_revision_and_an_unchanged_one_does_not(
    db: Database, tmp_path: Path
) -> None:
    ids = curated_store(db)
    path = tmp_path / "dump.jsonl"
    export_file(db, path)
    load(db, path)  # the same fields: no new revision
    assert len(CurationStore(db).revisions(ids["retired"])["revisions"]) == 1
    records = lines(path)
    for record in records:
        if record.get("id") == ids["retired"]:
            record["playbook"] = "Changed by the import."
    load(db, write_jsonl(tmp_path / "changed.jsonl", records))
    newest = CurationStore(db).revisions(ids["retired"])["revisions"][0]
    assert (newest["revision"], newest["action"]) == (2, "import")
    assert newest["fields"]["playbook"] == "Changed by the import."
    # A record without curation columns keeps the store's.
    plain = {k: v for k, v in records[-1].items() if not k.startswith(("state", "feedback"))}
    plain.pop("superseded_by"), plain.pop("retired_reason")
    before = EntryStore(db).get(plain["id"])
    load(db, write_jsonl(tmp_path / "plain.jsonl", [plain]))
    after = EntryStore(db).get(plain["id"])
    assert (after["state"], after["feedback"]) == (before["state"], before["feedback"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "archived"}, "state"),
        ({"feedback_helpful": -1}, "feedback_helpful"),
        ({"feedback_harmful": "many"}, "feedback_harmful"),
        ({"state": "approved", "superseded_by": "x"}, "superseded_by"),
        ({"feedback": [1]}, "feedback"),
    ],
)
def test_bad_curation_values_name_the_line_and_field(
    db: Database, tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    CategoryStore(db).create("ops", "Operations")
    record = {"kind": "experience", "category": "ops", "section": "useful", "title": "t"}
    record |= {"playbook": "p", **change}
    with pytest.raises(InvalidRecord) as caught:
        validate_file(db, write_jsonl(tmp_path / "bad.jsonl", [record]), mode="upsert")
    assert caught.value.field == field and "line 1" in str(caught.value)


def test_a_category_refuses_entry_curation_fields(db: Database, tmp_path: Path) -> None:
    record = {"kind": "category", "code": "ops", "name": "Ops", "review": True, "state": "retired"}
    with pytest.raises(InvalidRecord, match="state: unknown field"):
        validate_file(db, write_jsonl(tmp_path / "bad.jsonl", [record]), mode="upsert")
