"""The health report: is this process able to do its job, and if not, why.

It must answer in a few milliseconds whatever the size of the table, so it reads
only what an index answers cheaply, in one read transaction: the depth of the
queue's live statuses (not the embedded rows), the oldest pending entry, the pause
flag and the last vector change number. Everything else is in memory.

It must also answer within a second when the database is down or hung, not after a
connect or pool timeout: the read goes through the database's probe (a small engine
of its own, in a thread of its own) and waits at most ``DATABASE_DEADLINE`` seconds.
Then the report is a 503 that still shows this process's workers and wake-ups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anyio.to_thread import run_sync
from sqlalchemy import Connection

from heurist.clock import iso
from heurist.db.faults import DatabaseFault
from heurist.domain.vocabulary import EmbeddingStatus
from heurist.index import vectors as vector_store
from heurist.queue import sql

if TYPE_CHECKING:
    from heurist.runtime import Runtime

LIVE_STATUSES = (EmbeddingStatus.PENDING, EmbeddingStatus.PROCESSING, EmbeddingStatus.FAILED)
DATABASE_DEADLINE = 0.8  # seconds; the whole answer stays under one
# A write refused for a full disk keeps /health degraded this long (seconds).
STORAGE_FULL_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class DatabaseState:
    depth: dict[str, int]
    oldest: float | None
    flag: sql.PauseFlag
    last_change: int


def read_state(conn: Connection) -> DatabaseState:
    return DatabaseState(
        depth=sql.depth_by_status(conn, LIVE_STATUSES),
        oldest=sql.oldest_pending_queued_at(conn),
        flag=sql.read_pause(conn),
        last_change=vector_store.max_change_seq(conn),
    )


def health_report(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 only when the database cannot be reached."""
    try:
        state = rt.db.probe.run(read_state, deadline=DATABASE_DEADLINE)
    except DatabaseFault as fault:
        return _database_down(rt, fault)
    return 200, _report(rt, state)


async def health_report_async(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """The same for the HTTP route. The database read is awaited, so a down database is
    reported without any of the server's threads; a healthy report is assembled in one
    (the index's lock may be held by a rebuild, which must not stall the event loop)."""
    try:
        state = await rt.db.probe.run_async(read_state, deadline=DATABASE_DEADLINE)
    except DatabaseFault as fault:
        return _database_down(rt, fault)
    return 200, await run_sync(_report, rt, state)


def _database_down(rt: Runtime, fault: DatabaseFault) -> tuple[int, dict[str, Any]]:
    reasons = [f"database unreachable: {fault.what}"]
    body: dict[str, Any] = {
        "status": "degraded",
        "database": {"ok": False, "dialect": rt.db.dialect, "error": fault.reason[:300]},
        "workers": _workers(rt, False, reasons),
    }
    if rt.notify is not None:
        body["wakeups"] = _wakeups(rt, reasons)
    body["reasons"] = reasons
    return 503, body


def _report(rt: Runtime, state: DatabaseState) -> dict[str, Any]:
    reasons: list[str] = []
    now = rt.queue.clock()
    paused = state.flag.paused(now)
    body: dict[str, Any] = {
        "status": "ok",
        "database": _database(rt, reasons),
        "model": _model(rt, reasons),
        "index": _index(rt, state.last_change, reasons),
        "queue": {
            "paused": paused,
            "depth": state.depth,
            "oldest_pending_age_seconds": (
                None if state.oldest is None else max(0.0, now - state.oldest)
            ),
        },
        "workers": _workers(rt, paused, reasons),
    }
    if rt.notify is not None:
        body["wakeups"] = _wakeups(rt, reasons)
    if paused:
        reasons.append("queue paused: new and changed entries are not embedded until resumed")
    body["status"] = "degraded" if reasons else "ok"
    body["reasons"] = reasons
    return body


def _database(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": True, "dialect": rt.db.dialect}
    refused = rt.db.last_storage_full
    if refused is not None:
        out["last_storage_full"] = iso(refused)
        ago = time.time() - refused
        if ago < STORAGE_FULL_WINDOW:
            reasons.append(
                f"database disk full: a write was refused for lack of space {ago:.0f} s ago "
                "(writes answer 507 until space is freed; reads still work)"
            )
    return out


def _model(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    """The model search serves (the database's serving model, which this process follows)."""
    serving = rt.serving.current
    loaded = serving.embedder.loaded
    if not loaded:
        reasons.append("model not loaded yet: semantic search unavailable")
    out: dict[str, Any] = {"id": serving.model, "serving": serving.model, "loaded": loaded}
    if serving.model != rt.embedder.model_id:
        out["configured"] = rt.embedder.model_id
    return out


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
    waiting = rt.pool.signals.database_down_since is not None
    if waiting:
        reasons.append("workers wait for the database: nothing is claimed meanwhile")
    return {
        "configured": rt.pool.size,
        "alive": alive,
        "paused": sum(1 for s in stats if s.paused) if paused else 0,
        "restarts": sum(s.restarts for s in stats),
        "waiting_for_database": waiting,
    }


def _wakeups(rt: Runtime, reasons: list[str]) -> dict[str, Any]:
    """PostgreSQL LISTEN/NOTIFY: while it is down, workers and index sync only poll."""
    assert rt.notify is not None
    state = rt.notify.state()
    if not state["listening"]:
        reasons.append("LISTEN connection down: wake-ups fall back to polling")
    return state
