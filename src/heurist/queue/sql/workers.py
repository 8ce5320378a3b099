"""The worker registry's rows: each process reports its worker slots; anyone reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

_WORKER_COLUMNS = (
    "slot",
    "worker_id",
    "host",
    "pid",
    "state",
    "paused",
    "current_batch",
    "processed",
    "succeeded",
    "failed",
    "restarts",
    "last_run",
    "started_at",
    "last_seen",
)
_REPORT_WORKER = text(
    f"""INSERT INTO workers ({", ".join(_WORKER_COLUMNS)})
    VALUES ({", ".join(":" + c for c in _WORKER_COLUMNS)})
    ON CONFLICT (slot) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _WORKER_COLUMNS if c not in ("slot", "started_at"))}"""
)


def report_workers(conn: Connection, reports: Sequence[dict[str, Any]]) -> None:
    """Upsert each worker slot's latest report (its current holder id in ``worker_id``);
    only its own process writes a slot."""
    if reports:
        conn.execute(_REPORT_WORKER, list(reports))


def list_workers(conn: Connection, *, seen_since: float) -> list[dict[str, Any]]:
    """Workers of every process that reported since ``seen_since``, oldest slot first."""
    rows = conn.execute(
        text("SELECT * FROM workers WHERE last_seen >= :since ORDER BY started_at, slot"),
        {"since": seen_since},
    )
    return [dict(r._mapping) for r in rows]


def prune_workers(conn: Connection, *, before: float) -> int:
    """Forget workers that have not reported for a long time (their processes are gone)."""
    result = conn.execute(text("DELETE FROM workers WHERE last_seen < :before"), {"before": before})
    return int(result.rowcount)
