"""The pause: the ``queue_control`` row, its rule in SQL (inside the claim) and in Python."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

_PAUSED = """EXISTS (SELECT 1 FROM queue_control qc WHERE qc.id = 1
    AND (qc.operator_paused OR coalesce(qc.import_paused_until, 0) > :now))"""


@dataclass(frozen=True, slots=True)
class PauseFlag:
    """The ``queue_control`` row: the operator's pause (held until resumed) and an
    importer's pause (a lease that lapses by itself)."""

    operator_paused: bool = False
    import_paused_until: float | None = None
    import_paused_by: str | None = None

    def import_paused(self, now: float) -> bool:
        return (self.import_paused_until or 0.0) > now

    def paused(self, now: float) -> bool:
        """The rule of ``_PAUSED`` (which the claim applies), in Python."""
        return self.operator_paused or self.import_paused(now)


def read_pause(conn: Connection) -> PauseFlag:
    row = conn.execute(
        text(
            """SELECT operator_paused, import_paused_until, import_paused_by
            FROM queue_control WHERE id = 1"""
        )
    ).first()
    if row is None:
        return PauseFlag()
    return PauseFlag(bool(row.operator_paused), row.import_paused_until, row.import_paused_by)


def set_operator_pause(conn: Connection, *, paused: bool, now: float) -> None:
    """The operator's pause: no lease, it holds until resumed, across restarts."""
    conn.execute(
        text(
            """UPDATE queue_control SET operator_paused = :paused,
                operator_paused_at = :at, updated_at = :now WHERE id = 1"""
        ),
        {"paused": paused, "at": now if paused else None, "now": now},
    )


def set_import_pause(
    conn: Connection, *, holder: str | None, until: float | None, now: float
) -> None:
    """An importer's pause: a lease that lapses by itself if the importer dies."""
    conn.execute(
        text(
            """UPDATE queue_control SET import_paused_until = :until,
                import_paused_by = :holder, updated_at = :now WHERE id = 1"""
        ),
        {"until": until, "holder": holder, "now": now},
    )
