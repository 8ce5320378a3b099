"""Experiences and manuals: create, read, change, delete, list.

The write path (DESIGN §3.1): a create, or an update that changes the embedded text,
commits the row as ``pending`` with a new revision in one short transaction, then
wakes the workers. No model is touched here. The keyword index is kept by database
triggers (SQLite) or a generated column (PostgreSQL) inside the same transaction, so
an entry is findable by keyword the moment its write returns.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from heurist.clock import iso, now
from heurist.db.engine import Database
from heurist.db.schema import entries
from heurist.db.visibility import visible
from heurist.domain.kinds import SPECS
from heurist.domain.rules import check_rules
from heurist.domain.vocabulary import Kind
from heurist.embedding.embedded_text import content_hash
from heurist.errors import InvalidInput, NotFound
from heurist.index import vectors as vector_store
from heurist.limits import PRIORITY_INTERACTIVE
from heurist.queue import sql
from heurist.signals import Signal
from heurist.store.categories import exists as category_exists
from heurist.store.idempotency import IdempotencyKey, IdempotentWrite
from heurist.store.ids import new_id

# The largest sequence number both backends store (a signed 64-bit integer).
SEQ_MAX = 2**63 - 1


class EntryStore:
    def __init__(self, db: Database, *, work: Signal | None = None) -> None:
        """``work`` is announced after every write that queued an entry."""
        self.db = db
        self.work = work if work is not None else Signal()
        self.keys = IdempotentWrite(db)

    def create(
        self,
        kind: str,
        data: Mapping[str, Any],
        *,
        priority: int = PRIORITY_INTERACTIVE,
        entry_id: str | None = None,
        key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """A new entry, queued. With ``key``, a retry of a create answers the first one's
        entry and creates nothing (``heurist.store.idempotency``)."""
        fields = _fields(kind, data)
        check_rules(kind, fields)

        def write(conn: Connection) -> dict[str, Any]:
            _require_category(conn, fields["category"])
            row = new_row(kind, fields, priority=priority, entry_id=entry_id)
            # Parameters apart from the statement: it compiles once and is cached.
            conn.execute(insert(entries), row)
            return to_public(_RowView(row))

        entry, replayed = self.keys.run(key, write)
        if not replayed:
            self.work.announce()
        return entry

    def get(self, entry_id: str, kind: str | None = None) -> dict[str, Any]:
        with self.db.read() as conn:
            return _get(conn, entry_id, kind)

    def update(self, entry_id: str, kind: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.db.write() as conn:
            current = _get(conn, entry_id, kind, lock=True)
            fields = {k: current[k] for k in SPECS[kind].fields} | _fields(
                kind, changes, partial=True
            )
            check_rules(kind, fields)
            if fields["category"] != current["category"]:
                _require_category(conn, fields["category"])
            values = _columns(fields)
            requeued = content_hash(kind, fields) != current["content_hash"]
            if requeued:
                values |= _requeue_values(kind, fields, current["revision"] + 1)
            values["updated_at"] = now()
            conn.execute(update(entries).where(entries.c.id == entry_id).values(**values))
            if not requeued and (
                fields["category"] != current["category"]
                or fields.get("section") != current.get("section")
            ):
                vector_store.touch_entry(conn, entry_id)
            result = _get(conn, entry_id, kind)
        if requeued:
            self.work.announce()
        return result

    def delete(self, entry_id: str, kind: str | None = None) -> None:
        with self.db.write() as conn:
            _get(conn, entry_id, kind, lock=True)
            vector_store.tombstone_entry(conn, entry_id)
            conn.execute(delete(entries).where(entries.c.id == entry_id))

    def list(
        self,
        kind: str,
        *,
        category: str | None = None,
        section: str | None = None,
        status: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        conds = [
            entries.c.kind == kind,
            entries.c.seq > decode_cursor(cursor),
            visible(entries),  # not the rows of an import not yet published
        ]
        for column, value in (
            (entries.c.category_code, category),
            (entries.c.section, section),
            (entries.c.embedding_status, status),
        ):
            if value is not None:
                conds.append(column == value)
        with self.db.read() as conn:
            rows = conn.execute(
                select(entries).where(and_(*conds)).order_by(entries.c.seq).limit(limit + 1)
            ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
        return [to_public(r) for r in rows], next_cursor


def new_row(
    kind: str, fields: Mapping[str, Any], *, priority: int, entry_id: str | None
) -> dict[str, Any]:
    """The full column set of a new entry, queued as pending at revision 1."""
    ts = now()
    return {
        "id": entry_id or new_id(),
        "kind": kind,
        **_columns(fields),
        "created_at": ts,
        "updated_at": ts,
        **_requeue_values(kind, fields, 1),
        "priority": priority,
        "embedded_revision": None,
        "embedded_model": None,
        "embedded_at": None,
    }


def _requeue_values(kind: str, fields: Mapping[str, Any], revision: int) -> dict[str, Any]:
    return sql.requeued(
        revision=revision,
        content_hash=content_hash(kind, fields),
        now=now(),
        priority=PRIORITY_INTERACTIVE,
    )


def _fields(kind: str, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    if not Kind.has(kind):
        raise InvalidInput(f"kind must be one of {Kind.listing()}", field="kind")
    allowed = SPECS[kind].fields
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}' for a {kind}", field=unknown[0])
    if partial:
        return dict(data)
    return {name: data.get(name) for name in allowed}


def _require_category(conn: Connection, code: str) -> None:
    if not category_exists(conn, code):
        raise InvalidInput(
            f"category '{code}' does not exist; create it first with POST /api/v1/categories",
            field="category",
        )


def _columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k != "category"}
    out["category_code"] = fields["category"]
    return out


def _get(
    conn: Connection, entry_id: str, kind: str | None, *, lock: bool = False
) -> dict[str, Any]:
    """The entry as the API shows it. ``lock`` takes its row lock first (PostgreSQL), so a
    change touches the entry before its vectors, in the order a worker's write-back does;
    the reverse order deadlocks against it."""
    stmt = select(entries).where(entries.c.id == entry_id, visible(entries))
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None or (kind is not None and row.kind != kind):
        raise NotFound(f"{kind or 'entry'} '{entry_id}' does not exist", details={"id": entry_id})
    return to_public(row)


class _RowView:
    """A freshly inserted row, shaped like a fetched one, so a create needs no re-read."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values


def to_public(row: Any) -> dict[str, Any]:
    m = row._mapping
    out: dict[str, Any] = {"id": m["id"], "kind": m["kind"], "category": m["category_code"]}
    out |= {name: m[name] for name in SPECS[m["kind"]].fields if name != "category"}
    out |= {
        "created_at": iso(m["created_at"]),
        "updated_at": iso(m["updated_at"]),
        "embedding_status": m["embedding_status"],
        "revision": m["revision"],
        "embedded_revision": m["embedded_revision"],
        "attempts": m["attempts"],
        "last_error": m["last_error"],
        "content_hash": m["content_hash"],
    }
    return out


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "seq":
            raise ValueError(prefix)
        seq = int(value)
        if not 0 <= seq <= SEQ_MAX:
            raise ValueError(value)
        return seq
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc
