"""The health report: is this process able to do its job, and if not, why.

It must answer in a few milliseconds whatever the size of the table, so it reads
only what an index answers cheaply, in one read transaction: the depth of the
queue's live statuses (not the embedded rows), the oldest pending entry, the pause
flag and the last vector change number. Everything else is in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, OperationalError

from heurist.domain.vocabulary import EmbeddingStatus
from heurist.index import vectors as vector_store
from heurist.queue import sql

if TYPE_CHECKING:
    from heurist.runtime import Runtime

LIVE_STATUSES = (EmbeddingStatus.PENDING, EmbeddingStatus.PROCESSING, EmbeddingStatus.FAILED)


def health_report(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 only when the database cannot be reached."""
    try:
        with rt.db.read() as conn:
            depth = sql.depth_by_status(conn, LIVE_STATUSES)
            oldest = sql.oldest_pending_queued_at(conn)
            flag = sql.read_pause(conn)
            last_change = vector_store.max_change_seq(conn)
    except (OperationalError, DBAPIError) as exc:
        return 503, {
            "status": "degraded",
            "database": {"ok": False, "dialect": rt.db.dialect, "error": str(exc.orig)[:300]},
            "reasons": ["database unreachable"],
        }
    reasons: list[str] = []
    now = rt.queue.clock()
    paused = flag.paused(now)
    body: dict[str, Any] = {
        "status": "ok",
        "database": {"ok": True, "dialect": rt.db.dialect},
        "model": _model(rt, reasons),
        "index": _index(rt, last_change, reasons),
        "queue": {
            "paused": paused,
            "depth": depth,
            "oldest_pending_age_seconds": None if oldest is None else max(0.0, now - oldest),
        },
        "workers": _workers(rt, paused, reasons),
    }
    if rt.notify is not None:
        body["wakeups"] = _wakeups(rt, reasons)
    if paused:
        reasons.append("queue paused: new and changed entries are not embedded until resumed")
    body["status"] = "degraded" if reasons else "ok"
    body["reasons"] = reasons
    return 200, body


def _model(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    loaded = rt.query_embedder.loaded
    if not loaded:
        reasons.append("model not loaded yet: semantic search unavailable")
    return {"id": rt.query_embedder.model_id, "loaded": loaded}


def _index(rt: Runtime, last_change: int, reasons: list[str]) -> dict[str, Any]:
    sync = rt.index_sync
    behind = max(0, last_change - sync.high_water) + len(sync.gaps)
    if behind > 0:
        reasons.append(f"index {behind} changes behind the database")
    return {"size": len(rt.index), "changes_behind": behind, "last_change": last_change}


def _workers(rt: Runtime, paused: bool, reasons: list[str]) -> dict[str, Any]:
    if rt.pool is None:
        return {"configured": 0, "alive": 0, "paused": 0, "restarts": 0}
    stats = rt.pool.stats
    alive = rt.pool.alive
    if alive < rt.pool.size:
        reasons.append(f"{rt.pool.size - alive} of {rt.pool.size} workers not alive")
    return {
        "configured": rt.pool.size,
        "alive": alive,
        "paused": sum(1 for s in stats if s.paused) if paused else 0,
        "restarts": sum(s.restarts for s in stats),
    }


def _wakeups(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    """PostgreSQL LISTEN/NOTIFY: while it is down, workers and index sync only poll."""
    assert rt.notify is not None
    state = rt.notify.state()
    if not state["listening"]:
        reasons.append("LISTEN connection down: wake-ups fall back to polling")
    return state
