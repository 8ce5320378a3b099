"""The curator's actions and the feedback on entries, each in one write transaction.

approve, retire and merge move an entry between states (``EntryState``); revert restores
the fields of an earlier revision as a new one; feedback counts what using an entry did
and keeps the note. A change of state logs the entry's vectors as changed, so every
search process's index learns the state it filters on (``index.vectors.touch_entry``).
Rows are locked before they are read for a change, in id order when there are two, the
order no other writer reverses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, desc, func, insert, or_, select, update

from heurist.clock import iso, now
from heurist.db.engine import Database
from heurist.db.schema import entries, entry_feedback
from heurist.db.visibility import visible
from heurist.domain.vocabulary import EntryState, Outcome, RevisionAction
from heurist.errors import Conflict, InvalidInput, NotFound
from heurist.index import vectors as vector_store
from heurist.signals import Signal
from heurist.store import history
from heurist.store.entries import to_public, update_in

CURATOR = "curator"  # the author of revisions a curator's revert makes
FLAGS = (Outcome.HARMFUL, Outcome.OUTDATED)
NOTES_SHOWN = 3


class CurationStore:
    def __init__(self, db: Database, *, work: Signal | None = None) -> None:
        """``work`` is announced when a revert queued the entry for embedding."""
        self.db = db
        self.work = work if work is not None else Signal()

    def approve(self, entry_id: str) -> dict[str, Any]:
        """Proposed or retired → approved. A merged entry stays merged: its feedback counts
        live on in the entry it went into, and approving it would count them twice."""
        with self.db.write() as conn:
            row = _locked(conn, entry_id)
            if row.superseded_by is not None:
                raise Conflict(
                    f"entry '{entry_id}' was merged into '{row.superseded_by}'; "
                    "approve or edit that entry instead",
                    details={"field": "id", "superseded_by": row.superseded_by},
                )
            _set_state(conn, entry_id, EntryState.APPROVED, superseded_by=None, reason=None)
            return _read(conn, entry_id)

    def retire(self, entry_id: str, reason: str) -> dict[str, Any]:
        with self.db.write() as conn:
            _locked(conn, entry_id)
            _set_state(conn, entry_id, EntryState.RETIRED, superseded_by=None, reason=reason)
            return _read(conn, entry_id)

    def merge(self, source_id: str, into: str) -> dict[str, Any]:
        """Retire ``source_id`` as superseded by ``into``, adding its feedback to the target."""
        if source_id == into:
            raise InvalidInput("an entry cannot be merged into itself", field="into")
        with self.db.write() as conn:
            rows = {
                i: _locked(conn, i, field=f)
                for i, f in sorted({source_id: "id", into: "into"}.items())
            }
            source, target = rows[source_id], rows[into]
            _check_merge(source, target)
            conn.execute(
                update(entries)
                .where(entries.c.id == into)
                .values(
                    {
                        f"feedback_{o}": entries.c[f"feedback_{o}"]
                        + source._mapping[f"feedback_{o}"]
                        for o in Outcome
                    }
                    | {"updated_at": now()}
                )
            )
            _set_state(
                conn,
                source_id,
                EntryState.RETIRED,
                superseded_by=into,
                reason=f"merged into {into}",
            )
            return {"source": _read(conn, source_id), "target": _read(conn, into)}

    def revert(self, entry_id: str, revision: int) -> dict[str, Any]:
        """Restore the fields of ``revision`` as a new revision (re-queued if the text moved)."""
        with self.db.write() as conn:
            _locked(conn, entry_id)
            fields = history.fields_at(conn, entry_id, revision)
            result, requeued = update_in(
                conn, entry_id, None, fields, action=RevisionAction.REVERT, author=CURATOR
            )
        if requeued:
            self.work.announce()
        return result

    def revisions(self, entry_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            _locked(conn, entry_id, lock=False)
            return {"id": entry_id, "revisions": history.revisions(conn, entry_id)}

    def feedback(
        self, entry_id: str, outcome: str, *, note: str | None, author: str | None
    ) -> dict[str, Any]:
        """Count the outcome and keep the note; returns the entry that holds the count. On a
        merged entry both go to the entry it went into (its counts already moved there)."""
        column = f"feedback_{outcome}"
        with self.db.write() as conn:
            entry_id = _current(conn, entry_id)
            conn.execute(
                insert(entry_feedback).values(
                    entry_id=entry_id, outcome=outcome, note=note, author=author, at=now()
                )
            )
            conn.execute(
                update(entries)
                .where(entries.c.id == entry_id)
                .values({column: entries.c[column] + 1})
            )
            return _read(conn, entry_id)

    def proposed(self, limit: int) -> list[dict[str, Any]]:
        """Proposed entries, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(entries)
                .where(entries.c.state == EntryState.PROPOSED, visible(entries))
                .order_by(desc(entries.c.created_at), desc(entries.c.seq))
                .limit(limit)
            ).all()
        return [to_public(r) for r in rows]

    def flagged(self, limit: int) -> list[dict[str, Any]]:
        """Approved entries with harmful or outdated feedback, most recently flagged first,
        each with ``flagged_at`` and its latest notes."""
        last = (
            select(entry_feedback.c.entry_id, func.max(entry_feedback.c.at).label("flagged_at"))
            .where(entry_feedback.c.outcome.in_(list(FLAGS)))
            .group_by(entry_feedback.c.entry_id)
            .subquery()
        )
        stmt = (
            select(entries, last.c.flagged_at)
            .join(last, last.c.entry_id == entries.c.id)
            .where(
                and_(
                    entries.c.state == EntryState.APPROVED,
                    visible(entries),
                    or_(*(entries.c[f"feedback_{o}"] > 0 for o in FLAGS)),
                )
            )
            .order_by(desc(last.c.flagged_at))
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
            return [
                to_public(r) | {"flagged_at": iso(r.flagged_at), "notes": _notes(conn, r.id)}
                for r in rows
            ]


def _notes(conn: Connection, entry_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(entry_feedback)
        .where(entry_feedback.c.entry_id == entry_id)
        .order_by(desc(entry_feedback.c.at), desc(entry_feedback.c.id))
        .limit(NOTES_SHOWN)
    ).all()
    return [
        {"outcome": r.outcome, "note": r.note, "author": r.author, "at": iso(r.at)} for r in rows
    ]


def _current(conn: Connection, entry_id: str) -> str:
    """The entry that now stands for ``entry_id``: itself, or the end of its merges (locked)."""
    seen: set[str] = set()
    row = _locked(conn, entry_id)
    while row.superseded_by is not None and row.superseded_by not in seen:
        seen.add(row.id)
        following = conn.execute(
            select(entries)
            .where(entries.c.id == row.superseded_by, visible(entries))
            .with_for_update()
        ).first()
        if following is None:  # the target was deleted since: the source keeps it
            break
        row = following
    return str(row.id)


def _check_merge(source: Any, target: Any) -> None:
    if source.kind != target.kind:
        raise InvalidInput(
            f"cannot merge a {source.kind} into a {target.kind}; merge entries of one kind",
            field="into",
        )
    if source.superseded_by is not None:
        raise Conflict(
            f"entry '{source.id}' was already merged into '{source.superseded_by}'",
            details={"field": "id", "superseded_by": source.superseded_by},
        )
    if target.state == EntryState.RETIRED:
        where = f", superseded by '{target.superseded_by}'" if target.superseded_by else ""
        raise Conflict(
            f"entry '{target.id}' is retired{where}; merge into an entry that is not",
            details={"field": "into", "superseded_by": target.superseded_by},
        )


def _locked(conn: Connection, entry_id: str, *, field: str = "id", lock: bool = True) -> Any:
    stmt = select(entries).where(entries.c.id == entry_id, visible(entries))
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(
            f"entry '{entry_id}' does not exist", details={"field": field, "id": entry_id}
        )
    return row


def _set_state(
    conn: Connection, entry_id: str, state: str, *, superseded_by: str | None, reason: str | None
) -> None:
    conn.execute(
        update(entries)
        .where(entries.c.id == entry_id)
        .values(state=state, superseded_by=superseded_by, retired_reason=reason, updated_at=now())
    )
    vector_store.touch_entry(conn, entry_id)


def _read(conn: Connection, entry_id: str) -> dict[str, Any]:
    return to_public(_locked(conn, entry_id, lock=False))
