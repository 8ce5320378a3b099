"""Entry history in export files: ``heurist export --with-history`` (JSONL only).

Each revision is one record, ``{"kind": "revision", "id": <entry id>, "revision": n,
"at", "author", "action", "fields"}``, after every entry. An import restores the
revisions a store does not hold yet (same entry id and number), before it records its
own, so export → import into an empty store → export gives the same file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_

from heurist.clock import iso
from heurist.db.schema import entries, entry_revisions
from heurist.domain.vocabulary import RevisionAction
from heurist.transfer.errors import InvalidRecord

REVISION = "revision"  # the record kind
PAGE = 5_000


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    where: str
    entry_id: str
    revision: int
    at: float
    author: str | None
    action: str
    fields: dict[str, Any]


def export_revisions(conn: Connection) -> Iterator[dict[str, Any]]:
    """Every revision, by entry id then number."""
    last: tuple[str, int] = ("", 0)
    while True:
        rows = conn.execute(
            select(entry_revisions)
            .where(tuple_(entry_revisions.c.entry_id, entry_revisions.c.revision) > last)
            .order_by(entry_revisions.c.entry_id, entry_revisions.c.revision)
            .limit(PAGE)
        ).all()
        for r in rows:
            yield {
                "kind": REVISION,
                "id": r.entry_id,
                "revision": r.revision,
                "at": iso(r.at),
                "author": r.author,
                "action": r.action,
                "fields": json.loads(r.fields),
            }
        if len(rows) < PAGE:
            return
        last = (rows[-1].entry_id, rows[-1].revision)


def parse_revision(raw: Mapping[str, Any], where: str, at: float | None) -> RevisionRecord:
    """One revision record; ``at`` is its time already parsed by the caller."""
    entry_id, number, fields = raw.get("id"), raw.get("revision"), raw.get("fields")
    if not isinstance(entry_id, str) or not entry_id:
        raise InvalidRecord(where, "id", "a revision names its entry's id")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidRecord(where, "revision", "must be a whole number from 1")
    if not isinstance(fields, dict):
        raise InvalidRecord(where, "fields", "must be an object")
    action = raw.get("action")
    if not RevisionAction.has(action):
        raise InvalidRecord(where, "action", f"must be one of {RevisionAction.listing()}")
    if at is None:
        raise InvalidRecord(where, "at", "a revision needs its time")
    author = raw.get("author")
    if author is not None and not isinstance(author, str):
        raise InvalidRecord(where, "author", "must be text")
    return RevisionRecord(where, entry_id, number, at, author, action, fields)


def restore(conn: Connection, records: Sequence[RevisionRecord]) -> int:
    """Insert the revisions the store lacks; each must name an entry the store holds."""
    if not records:
        return 0
    ids = sorted({r.entry_id for r in records})
    known: set[str] = set()
    held: set[tuple[str, int]] = set()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        known |= set(conn.execute(select(entries.c.id).where(entries.c.id.in_(part))).scalars())
        held |= {
            (r.entry_id, int(r.revision))
            for r in conn.execute(
                select(entry_revisions.c.entry_id, entry_revisions.c.revision).where(
                    entry_revisions.c.entry_id.in_(part)
                )
            )
        }
    rows = []
    for r in records:
        if r.entry_id not in known:
            raise InvalidRecord(
                r.where, "id", f"entry '{r.entry_id}' is neither in the file nor the store"
            )
        if (r.entry_id, r.revision) not in held:
            rows.append(
                {
                    "entry_id": r.entry_id,
                    "revision": r.revision,
                    "at": r.at,
                    "author": r.author,
                    "action": r.action,
                    "fields": json.dumps(r.fields, sort_keys=True),
                }
            )
    if rows:
        conn.execute(insert(entry_revisions), rows)
    return len(rows)
