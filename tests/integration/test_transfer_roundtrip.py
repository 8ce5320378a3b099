"""Every export imports back losslessly, in every format (issue 13, class 2): a
property over arbitrary unicode, every limit at its maximum, the extreme valid times,
optional fields absent and present, on both backends."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist import limits
from heurist.clock import TIMESTAMP_MAX, TIMESTAMP_MIN, iso
from heurist.db.engine import Database
from heurist.transfer.exporter import export_records
from heurist.transfer.files import write_records
from heurist.transfer.importer import write_plan
from heurist.transfer.plan import build_plan
from heurist.transfer.service import validate_file

FORMATS = (".jsonl", ".csv", ".zip")
CHARS = st.characters(codec="utf-8", exclude_characters="\x00")


def text(max_size: int, *, required: bool = False) -> st.SearchStrategy[str]:
    """Short arbitrary text, or text exactly at the limit (a drawn piece repeated)."""
    short = st.text(CHARS, min_size=1 if required else 0, max_size=12)
    longest = st.text(CHARS, min_size=1, max_size=6).map(
        lambda piece: (piece * math.ceil(max_size / len(piece)))[:max_size]
    )
    drawn = st.one_of(short, short, longest)
    return drawn.filter(lambda s: bool(s.strip())) if required else drawn


def optional(max_size: int) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), text(max_size))


TIMES = st.one_of(
    st.none(),
    st.sampled_from([TIMESTAMP_MIN, TIMESTAMP_MAX, 1.5, 1_764_000_000.123456]),
    st.floats(min_value=TIMESTAMP_MIN, max_value=TIMESTAMP_MAX),
)
CODES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)
IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)


@st.composite
def stores(draw: st.DrawFn) -> list[dict[str, Any]]:
    codes = draw(st.lists(CODES, min_size=1, max_size=3, unique=True))
    records: list[dict[str, Any]] = []
    for code in codes:
        category = {"kind": "category", "code": code, "name": draw(text(200, required=True))}
        if draw(st.booleans()):
            category["description"] = draw(text(limits.CATEGORY_DESCRIPTION_MAX))
        records.append(category | _times(draw))
    ids = draw(st.lists(IDS, min_size=1, max_size=4, unique=True))
    for entry_id in ids:
        base = {"id": entry_id, "category": draw(st.sampled_from(codes))}
        if draw(st.booleans()):
            section = draw(st.sampled_from(["useful", "harmful", "contextual"]))
            entry = base | {
                "kind": "experience",
                "section": section,
                "title": draw(text(limits.TITLE_MAX, required=True)),
                "playbook": draw(text(limits.PLAYBOOK_MAX, required=True)),
                "context": draw(
                    text(limits.CONTEXT_MAX, required=True)
                    if section == "contextual"
                    else optional(limits.CONTEXT_MAX)
                ),
            }
        else:
            entry = base | {
                "kind": "manual",
                "title": draw(text(limits.TITLE_MAX, required=True)),
                "content": draw(text(limits.MANUAL_CONTENT_MAX, required=True)),
                "summary": draw(optional(limits.MANUAL_SUMMARY_MAX)),
            }
        entry |= {"author": draw(optional(limits.AUTHOR_MAX))}
        entry |= {"source": draw(optional(limits.SOURCE_MAX))}
        records.append({k: v for k, v in entry.items() if v is not None} | _times(draw))
    return records


def _times(draw: st.DrawFn) -> dict[str, float]:
    out = {}
    for name in ("created_at", "updated_at"):
        value = draw(TIMES)
        if value is not None:
            out[name] = value
    return out


def expected(records: list[dict[str, Any]], exported: list[dict[str, Any]]) -> list[Any]:
    """What the export must say: the records as given (an empty optional text is none;
    a time given shows as its ISO form; one not given was 'now' and is taken as exported)."""
    stamps = {(r["kind"], r.get("id") or r.get("code")): r for r in exported}
    out = []
    for record in records:
        shown = dict(record)
        if record["kind"] == "category":
            shown.setdefault("description", "")
        for name in ("context", "summary", "author", "source"):
            if shown.get(name) == "":
                shown[name] = None
        got = stamps[(record["kind"], record.get("id") or record.get("code"))]
        for name in ("created_at", "updated_at"):
            shown[name] = iso(record[name]) if name in record else got[name]
        out.append(shown)
    return sorted(out, key=_key)


def _key(record: dict[str, Any]) -> tuple[int, str]:
    order = {"category": 0, "experience": 1, "manual": 2}
    return order[record["kind"]], record.get("id") or record["code"]


def _comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in r.items() if v is not None} for r in records), key=_key)


def replace_with(db: Database, items: list[tuple[str, Any]]) -> None:
    write_plan(db, build_plan(items), mode="replace")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=stores())
def test_every_export_imports_back_losslessly(
    db: Database, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    replace_with(db, [(f"line {i}", json.loads(json.dumps(r))) for i, r in enumerate(records)])
    first = export_records(db)
    want = _comparable(expected(records, first))
    assert _comparable(first) == want
    for suffix in FORMATS:
        path = tmp_path / f"backup{suffix}"
        write_records(path, first)
        plan = validate_file(db, path, mode="replace")
        write_plan(db, plan, mode="replace")
        assert _comparable(export_records(db)) == want, suffix
