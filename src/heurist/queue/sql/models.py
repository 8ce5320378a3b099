"""The serving model: the ``serving_model`` row, which every instance follows, and the
statements of a model change (DESIGN §11 "Vectors per model").

    serving S ──set_target(T)──► serving S, target T ──switch_serving──► serving T, previous S
        ▲                           │  (the queue back-fills T's vectors;
        └────────cancel_target──────┘   every entry keeps S's meanwhile)

The switch is one guarded statement: it happens only while no entry searchable on S lacks
current vectors of T, so no entry is ever missing from semantic search, and only once,
however many instances try it at the same moment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

# An entry has a vector of :model (any revision) / of its current revision.
_HAS = "EXISTS (SELECT 1 FROM vectors v WHERE v.entry_id = e.id AND v.model = {m})"
_HAS_CURRENT = (
    "EXISTS (SELECT 1 FROM vectors v WHERE v.entry_id = e.id AND v.model = {m}"
    " AND v.chunk_index = 0 AND v.revision = e.revision)"
)


@dataclass(frozen=True, slots=True)
class ServingRow:
    """The row as read: ``model`` is None only in a store no process has started yet."""

    model: str | None
    spec: dict[str, Any] | None
    target: str | None
    target_spec: dict[str, Any] | None
    migration_started_at: float | None
    previous: str | None
    switched_at: float | None

    @property
    def migrating(self) -> bool:
        return self.target is not None and self.target != self.model


def _spec(raw: str | None) -> dict[str, Any] | None:
    return None if raw is None else dict(json.loads(raw))


def read_serving(conn: Connection) -> ServingRow:
    """One row by primary key: safe and cheap to read before every batch."""
    row = conn.execute(
        text(
            "SELECT model, spec, target, target_spec, migration_started_at, previous, "
            "switched_at FROM serving_model WHERE id = 1"
        )
    ).first()
    if row is None:
        return ServingRow(None, None, None, None, None, None, None)
    return ServingRow(
        row.model,
        _spec(row.spec),
        row.target,
        _spec(row.target_spec),
        row.migration_started_at,
        row.previous,
        row.switched_at,
    )


def adopt_model(conn: Connection, *, model: str, spec: dict[str, Any], now: float) -> bool:
    """A store that serves no model yet serves ``model``; a store that serves ``model`` but
    does not know how to build it (upgraded from before 0004) learns its settings.

    Guarded by ``model IS NULL`` / ``spec IS NULL``: of two instances starting together the
    first wins and the second changes nothing.
    """
    params = {"model": model, "spec": json.dumps(spec, sort_keys=True), "now": now}
    adopted = conn.execute(
        text(
            "UPDATE serving_model SET model = :model, spec = :spec, updated_at = :now "
            "WHERE id = 1 AND model IS NULL"
        ),
        params,
    ).rowcount
    conn.execute(
        text(
            "UPDATE serving_model SET spec = :spec, updated_at = :now "
            "WHERE id = 1 AND model = :model AND spec IS NULL"
        ),
        params,
    )
    return int(adopted) == 1


def set_target(conn: Connection, *, target: str, spec: dict[str, Any], now: float) -> bool:
    """Start (or keep going) a migration to ``target``; True if it is a new target.

    Guarded by ``model <> :target``: a store already serving it has nothing to migrate. The
    start time is kept when the target is unchanged, so a restart does not reset the ETA.
    """
    result = conn.execute(
        text(
            """UPDATE serving_model SET
                migration_started_at = CASE WHEN target = :target
                    THEN migration_started_at ELSE :now END,
                target = :target, target_spec = :spec, updated_at = :now
            WHERE id = 1 AND model <> :target
                AND (target IS NULL OR target <> :target OR target_spec <> :spec)"""
        ),
        {"target": target, "spec": json.dumps(spec, sort_keys=True), "now": now},
    )
    return int(result.rowcount) == 1


def cancel_target(conn: Connection, *, serving: str, now: float) -> bool:
    """The configured model is the serving one again: stop back-filling another."""
    result = conn.execute(
        text(
            """UPDATE serving_model SET target = NULL, target_spec = NULL,
                migration_started_at = NULL, updated_at = :now
            WHERE id = 1 AND model = :serving AND target IS NOT NULL"""
        ),
        {"serving": serving, "now": now},
    )
    return int(result.rowcount) == 1


_BLOCKING = """SELECT 1 FROM entries e
    WHERE {has} AND NOT {has_current}""".format(
    has=_HAS.format(m=":source"), has_current=_HAS_CURRENT.format(m=":target")
)


def switch_ready(conn: Connection, *, source: str, target: str) -> bool:
    """True when no entry searchable on ``source`` lacks current vectors of ``target``: the
    condition of ``switch_serving``, as a read (it holds no write lock while it scans, so
    a search process can ask every second without delaying a write)."""
    row = conn.execute(
        text(f"SELECT NOT EXISTS ({_BLOCKING})"), {"source": source, "target": target}
    ).scalar_one()
    return bool(row)


def switch_serving(conn: Connection, *, source: str, target: str, now: float) -> bool:
    """Serve ``target`` instead of ``source``, in one guarded statement.

    It matches only while the row still says (``source``, ``target``) and no entry that
    has a vector of ``source`` lacks a current vector of ``target``. Two instances running
    it at once: on SQLite writes are serialized; on PostgreSQL the second waits for the
    first's row lock, re-checks ``model = :source`` and matches nothing. True for the one
    that switched.
    """
    result = conn.execute(
        text(
            f"""UPDATE serving_model SET previous = model, model = target, spec = target_spec,
                target = NULL, target_spec = NULL, migration_started_at = NULL,
                switched_at = :now, updated_at = :now
            WHERE id = 1 AND model = :source AND target = :target
                AND NOT EXISTS ({_BLOCKING})"""
        ),
        {"source": source, "target": target, "now": now},
    )
    return int(result.rowcount) == 1


def migration_progress(conn: Connection, *, source: str, target: str) -> tuple[int, int]:
    """(done, total): entries with current vectors of ``target``, of the entries that have
    vectors of either model. A read: safe at any time, exact as of its snapshot."""
    row = conn.execute(
        text(
            f"""SELECT
                count(CASE WHEN {_HAS_CURRENT.format(m=":target")} THEN 1 END),
                count(*)
            FROM entries e
            WHERE {_HAS.format(m=":source")} OR {_HAS.format(m=":target")}"""
        ),
        {"source": source, "target": target},
    ).one()
    return int(row[0]), int(row[1])
