"""The history of an entry's fields: one revision per change, a full snapshot each.

A revision is written inside the transaction of the change it records (a create, a PATCH,
a revert, an import update), so the history can never miss a change or hold one that was
rolled back. Revisions count per entry from 1; they are not the embedding ``revision``
(which moves only when the embedded text changes). An entry written before history
existed gets its state before the first recorded change as a ``baseline`` revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select

from heurist.clock import iso, now
from heurist.db.schema import entry_revisions
from heurist.domain.kinds import SPECS
from heurist.domain.vocabulary import RevisionAction
from heurist.errors import NotFound


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


def record_import(conn: Connection, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Revisions for entries an import wrote: (entry id, kind, fields) each. A new entry's
    first revision, or the next one of an existing entry whose fields changed."""
    for entry_id, kind, fields in rows:
        current = latest(conn, entry_id)
        clean = snapshot(kind, fields)
        if current is None or current != clean:
            record(conn, entry_id, clean, action=RevisionAction.IMPORT, author=None)


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
        insert(entry_revisions).values(
            entry_id=entry_id,
            revision=revision,
            at=now(),
            author=author,
            action=action,
            fields=json.dumps(dict(fields), sort_keys=True),
        )
    )


def _public(row: Any) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "at": iso(row.at),
        "author": row.author,
        "action": row.action,
        "fields": json.loads(row.fields),
    }
