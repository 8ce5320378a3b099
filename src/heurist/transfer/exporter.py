"""Everything in the store as export records, in a stable order: categories by code,
then experiences, then manuals, each by id. Queue state is left out (an import always
queues), so export → import into an empty store → export gives identical files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from heurist.clock import iso
from heurist.db.engine import Database
from heurist.db.schema import categories, entries
from heurist.db.visibility import visible
from heurist.domain.vocabulary import Kind, RecordKind
from heurist.transfer.history import export_revisions
from heurist.transfer.records import COLUMNS, TIMESTAMPS

PAGE = 5_000


def export_records(db: Database, *, with_history: bool = False) -> list[dict[str, Any]]:
    """One read snapshot of the whole store; with its entries' revisions when asked."""
    with db.read() as conn:
        out = [
            _category(row)
            for row in conn.execute(select(categories).where(visible(categories)).order_by("code"))
        ]
        for kind in Kind:
            out.extend(_entry(row, kind) for row in _entries(conn, kind))
        if with_history:
            out.extend(export_revisions(conn))
    return out


def _entries(conn: Connection, kind: str) -> Iterator[Any]:
    last = ""
    while True:
        rows = conn.execute(
            select(entries)
            .where(entries.c.kind == kind, entries.c.id > last, visible(entries))
            .order_by(entries.c.id)
            .limit(PAGE)
        ).all()
        yield from rows
        if len(rows) < PAGE:
            return
        last = rows[-1].id


def _category(row: Any) -> dict[str, Any]:
    m = row._mapping
    kind = RecordKind.CATEGORY
    return {"kind": kind} | {c: _value(c, m[c]) for c in COLUMNS[kind]}


def _entry(row: Any, kind: str) -> dict[str, Any]:
    m = dict(row._mapping)
    m["category"] = m["category_code"]
    return {"kind": kind} | {c: _value(c, m[c]) for c in COLUMNS[kind]}


def _value(column: str, value: Any) -> Any:
    return iso(value) if column in TIMESTAMPS else value
