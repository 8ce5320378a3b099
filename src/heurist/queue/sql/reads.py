"""The queue's reads: counts for status, drain and health, and the failed list.

Rows an import has staged and not yet published are not in the queue yet: every count
leaves them out (``heurist.db.visibility``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from heurist.db.visibility import visible_sql
from heurist.domain.vocabulary import EmbeddingStatus, Kind

VISIBLE = visible_sql()


def status_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Rows per status and kind."""
    out: dict[str, dict[str, int]] = {status: dict.fromkeys(Kind, 0) for status in EmbeddingStatus}
    rows = conn.execute(
        text(
            f"""SELECT embedding_status, kind, count(*) FROM entries WHERE {VISIBLE}
            GROUP BY embedding_status, kind"""
        )
    )
    for status, kind, n in rows:
        out.setdefault(status, dict.fromkeys(Kind, 0))[kind] = int(n)
    return out


def in_flight(conn: Connection) -> int:
    """What a drain waits for: rows pending or processing (failed rows do not count)."""
    return int(
        conn.execute(
            text(
                f"""SELECT count(*) FROM entries
                WHERE embedding_status IN ('pending', 'processing') AND {VISIBLE}"""
            )
        ).scalar_one()
    )


def depth_by_status(conn: Connection, statuses: Sequence[str]) -> dict[str, int]:
    """Rows in the given statuses, all kinds together: for /health, which must stay fast.

    Reads only the range of the (status, priority, queued_at) index for each status, so
    its cost follows the queue's depth, not the table's size (unlike ``status_counts``,
    which also counts every embedded row by kind).
    """
    stmt = text(
        f"""SELECT embedding_status, count(*) FROM entries
        WHERE embedding_status IN :statuses AND {VISIBLE} GROUP BY embedding_status"""
    ).bindparams(bindparam("statuses", expanding=True))
    out = dict.fromkeys(statuses, 0)
    for status, n in conn.execute(stmt, {"statuses": list(statuses)}):
        out[status] = int(n)
    return out


def oldest_pending_queued_at(conn: Connection) -> float | None:
    value = conn.execute(
        text(f"SELECT min(queued_at) FROM entries WHERE embedding_status = 'pending' AND {VISIBLE}")
    ).scalar_one()
    return None if value is None else float(value)


def failed_entries(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            """SELECT id, kind, category_code AS category, title, attempts, last_error,
                updated_at, next_attempt_at FROM entries
            WHERE embedding_status = 'failed' ORDER BY updated_at DESC LIMIT :limit"""
        ),
        {"limit": limit},
    )
    return [dict(r._mapping) for r in rows]
