"""Times out of range: refused where they enter, harmless where one already sits in the
database (issue 13, class 1), on both backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from heurist.db.engine import Database
from heurist.transfer.errors import InvalidRecord
from heurist.transfer.service import export_file, validate_file
from tests.support.server import LiveServer
from tests.support.transfer_data import write_jsonl

Server = Callable[..., LiveServer]
CATEGORY = {"kind": "category", "code": "py", "name": "Python"}
EXPERIENCE = {
    "kind": "experience",
    "id": "e1",
    "category": "py",
    "section": "useful",
    "title": "T",
    "playbook": "P",
}
BAD_TIMES: list[object] = [
    1e20,
    -1e15,
    -1,
    10**400,
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999-01:00",
    253_402_300_800,
]
BAD_JSON = ["Infinity", "-Infinity", "NaN", "1e400"]  # JSON literals, as Python writes them


def test_every_out_of_range_time_is_refused_with_line_and_field(
    db: Database, tmp_path: Path
) -> None:
    cases = [
        (kind, field, value)
        for kind in ("category", "experience")
        for field in ("created_at", "updated_at")
        for value in BAD_TIMES
    ]
    for kind, field, value in cases:
        record = dict(CATEGORY if kind == "category" else EXPERIENCE) | {field: value}
        others = [CATEGORY] if kind == "experience" else []
        path = write_jsonl(tmp_path / "bad.jsonl", [*others, record])
        with pytest.raises(InvalidRecord) as caught:
            validate_file(db, path, mode="upsert")
        assert caught.value.message.startswith(f"line {len(others) + 1}: {field}: "), value
        assert "out of range" in caught.value.message
    for literal in BAD_JSON:
        path = tmp_path / "literal.jsonl"
        line = json.dumps(CATEGORY)[:-1] + f', "created_at": {literal}}}'
        path.write_text(line + "\n", encoding="utf-8")
        with pytest.raises(InvalidRecord, match=r"^line 1: created_at: .* out of range"):
            validate_file(db, path, mode="upsert")


def test_the_api_takes_no_times_from_clients(server_factory: Server) -> None:
    server = server_factory()
    for path, body in [
        ("/api/v1/categories", {"code": "py", "name": "P", "created_at": 1e20}),
        ("/api/v1/experiences", {**EXPERIENCE, "updated_at": "Infinity"}),
    ]:
        body = {k: v for k, v in body.items() if k not in ("kind", "id")}
        response = server.client.post(path, json=body)
        assert response.status_code == 422, response.text
        assert "_at" in response.json()["error"]["message"]


def test_the_extremes_of_the_range_are_accepted(db: Database, tmp_path: Path) -> None:
    lowest = CATEGORY | {"created_at": 0, "updated_at": "1970-01-01T00:00:00Z"}
    highest = EXPERIENCE | {"created_at": "9999-12-31T23:59:59Z", "updated_at": 253_402_300_799}
    plan = validate_file(db, write_jsonl(tmp_path / "ok.jsonl", [lowest, highest]), mode="upsert")
    assert plan.categories[0].created_at == 0.0
    assert plan.entries[0].created_at == plan.entries[0].updated_at == 253_402_300_799.0


def test_a_stored_out_of_range_row_does_not_take_reads_or_backups_down(
    server_factory: Server, tmp_path: Path
) -> None:
    server = server_factory()
    client = server.client
    assert client.post("/api/v1/categories", json={"code": "py", "name": "Python"}).is_success
    for i in range(3):
        body = {"category": "py", "section": "useful", "title": f"T{i}", "playbook": "P"}
        assert client.post("/api/v1/experiences", json=body | {"title": f"T{i}"}).is_success
    ids = [e["id"] for e in client.get("/api/v1/experiences").json()["items"]]
    db = server.runtime.db
    bad = ["1e20", "-1e15", "1e300"]
    if not db.is_sqlite:
        bad += ["'Infinity'::float8", "'NaN'::float8"]
    with db.write() as conn:  # written behind the service's back, as an old version could
        conn.execute(text(f"UPDATE categories SET created_at = {bad[0]}, updated_at = 1e18"))
        for entry_id, value in zip(ids, bad, strict=False):
            conn.execute(
                text(
                    f"UPDATE entries SET created_at = {value}, updated_at = {bad[-1]} "
                    "WHERE id = :id"
                ),
                {"id": entry_id},
            )

    listed = client.get("/api/v1/experiences")
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 3
    assert client.get("/api/v1/categories").status_code == 200
    assert client.get("/api/v1/categories/py").status_code == 200
    assert client.get(f"/api/v1/experiences/{ids[0]}").json()["created_at"] == (
        "9999-12-31T23:59:59Z"
    )
    assert client.get(f"/api/v1/experiences/{ids[1]}").json()["created_at"] == (
        "1970-01-01T00:00:00Z"
    )
    assert client.patch(f"/api/v1/experiences/{ids[0]}", json={"title": "new"}).is_success
    assert client.get("/api/v1/search", params={"q": "new", "mode": "keyword"}).is_success
    backup = tmp_path / "backup.jsonl"
    assert export_file(db, backup)["experience"] == 3
    assert validate_file(db, backup, mode="replace").count("experience") == 3
    assert client.delete(f"/api/v1/experiences/{ids[1]}").status_code == 204
