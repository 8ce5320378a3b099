"""The history of an entry's fields: one revision per change, a full snapshot each.

A revision is written inside the transaction of the change it records (a create, a PATCH,
a revert, an import update), so the history can never miss a change or hold one that was
rolled back. Revisions count per entry from 1; they are not the embedding ``revision``
(which moves only when the embedded text changes). An entry written before history
existed gets its state before the first recorded change as a ``baseline`` revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select

from heurist.clock import iso, now
from heurist.db.schema import entries, entry_revisions
from heurist.domain.kinds import SPECS
from heurist.domain.vocabulary import RevisionAction
from heurist.errors import NotFound

_BATCH = 500


def snapshot(kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a client sets, from an entry as the API shows it (``category`` included)."""
    return {name: entry.get(name) for name in SPECS[kind].fields}


def record(
    conn: Connection,
    entry_id: str,
    fields: Mapping[str, Any],
    *,
    action: str,
    author: str | None,
    before: Mapping[str, Any] | None = None,
) -> int | None:
    """Append a revision holding ``fields``; returns its number, or None when nothing changed.

    ``before`` is the entry's fields ahead of this change: when the entry has no history
    yet it becomes a ``baseline`` revision first, and when it equals ``fields`` nothing is
    written (a PATCH that changes nothing is not a revision).
    """
    last = _last(conn, entry_id)
    if before is not None:
        if dict(before) == dict(fields):
            return None
        if last == 0:
            _insert(conn, entry_id, 1, before, action=RevisionAction.BASELINE, author=None)
            last = 1
    _insert(conn, entry_id, last + 1, fields, action=action, author=author)
    return last + 1


def record_written(conn: Connection, entry_ids: Sequence[str]) -> int:
    """Revisions for entries an import wrote: the first of a new entry, the next of one
    whose fields differ from its newest revision. Batched: one read of the entries and
    of their newest revisions per 500 ids, one executemany insert."""
    rows: list[dict[str, Any]] = []
    ts = now()
    for start in range(0, len(entry_ids), _BATCH):
        part = list(entry_ids[start : start + _BATCH])
        newest = _newest(conn, part)
        for entry in conn.execute(select(entries).where(entries.c.id.in_(part))):
            fields = snapshot(entry.kind, to_fields(dict(entry._mapping)))
            number, held = newest.get(entry.id, (0, None))
            if held != fields:
                rows.append(_row(entry.id, number + 1, fields, RevisionAction.IMPORT, None, ts))
    if rows:
        conn.execute(insert(entry_revisions), rows)
    return len(rows)


def first_revisions(
    rows: Sequence[Mapping[str, Any]], *, skip: set[str] | None = None
) -> list[dict[str, Any]]:
    """Revision 1 (``import``) of new entries, from their column values (no read); entries
    in ``skip`` (a file restoring their history) are left out."""
    ts = now()
    return [
        _row(r["id"], 1, snapshot(r["kind"], to_fields(r)), RevisionAction.IMPORT, None, ts)
        for r in rows
        if not skip or r["id"] not in skip
    ]


def insert_revisions(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write prepared revision rows (``first_revisions``) in batches."""
    for start in range(0, len(rows), _BATCH * 4):
        conn.execute(insert(entry_revisions), list(rows[start : start + _BATCH * 4]))


def to_fields(m: Mapping[str, Any]) -> dict[str, Any]:
    """An entry row's columns as client fields (``category`` for ``category_code``)."""
    return {**m, "category": m["category_code"]}


def _newest(conn: Connection, ids: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    last = (
        select(entry_revisions.c.entry_id, func.max(entry_revisions.c.revision).label("n"))
        .where(entry_revisions.c.entry_id.in_(ids))
        .group_by(entry_revisions.c.entry_id)
        .subquery()
    )
    stmt = select(
        entry_revisions.c.entry_id, entry_revisions.c.revision, entry_revisions.c.fields
    ).join(
        last,
        (last.c.entry_id == entry_revisions.c.entry_id) & (last.c.n == entry_revisions.c.revision),
    )
    return {r.entry_id: (int(r.revision), json.loads(r.fields)) for r in conn.execute(stmt)}


def latest(conn: Connection, entry_id: str) -> dict[str, Any] | None:
    """The fields of the entry's newest revision, or None when it has none."""
    row = conn.execute(
        select(entry_revisions.c.fields)
        .where(entry_revisions.c.entry_id == entry_id)
        .order_by(entry_revisions.c.revision.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(json.loads(row.fields))


def revisions(conn: Connection, entry_id: str) -> list[dict[str, Any]]:
    """Every revision of the entry, newest first, as the API shows them."""
    rows = conn.execute(
        select(entry_revisions)
        .where(entry_revisions.c.entry_id == entry_id)
        .order_by(entry_revisions.c.revision.desc())
    ).all()
    return [_public(r) for r in rows]


def fields_at(conn: Connection, entry_id: str, revision: int) -> dict[str, Any]:
    """The fields a revision holds; NotFound naming the revisions there are."""
    row = conn.execute(
        select(entry_revisions.c.fields).where(
            entry_revisions.c.entry_id == entry_id, entry_revisions.c.revision == revision
        )
    ).first()
    if row is None:
        last = _last(conn, entry_id)
        have = f"it has revisions 1 to {last}" if last else "it has no history yet"
        raise NotFound(
            f"entry '{entry_id}' has no revision {revision}; {have}",
            details={"field": "revision", "id": entry_id},
        )
    return dict(json.loads(row.fields))


def _last(conn: Connection, entry_id: str) -> int:
    stmt = select(func.coalesce(func.max(entry_revisions.c.revision), 0)).where(
        entry_revisions.c.entry_id == entry_id
    )
    return int(conn.execute(stmt).scalar_one())


def _insert(
    conn: Connection,
    entry_id: str,
    revision: int,
    fields: Mapping[str, Any],
    *,
    action: str,
    author: str | None,
) -> None:
    conn.execute(
        insert(entry_revisions).values(_row(entry_id, revision, fields, action, author, now()))
    )


def _row(
    entry_id: str,
    revision: int,
    fields: Mapping[str, Any],
    action: str,
    author: str | None,
    at: float,
) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "revision": revision,
        "at": at,
        "author": author,
        "action": action,
        "fields": json.dumps(dict(fields), sort_keys=True),
    }


def _public(row: Any) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "at": iso(row.at),
        "author": row.author,
        "action": row.action,
        "fields": json.loads(row.fields),
    }
