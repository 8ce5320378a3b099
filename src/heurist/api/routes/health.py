"""/health: is this process able to do its job, and if not, why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from heurist.api.deps import RuntimeDep
from heurist.db.engine import DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/health")
def health(rt: RuntimeDep) -> JSONResponse:
    reasons: list[str] = []
    body: dict[str, Any] = {"status": "ok"}
    try:
        rt.db.ping()
        body["database"] = {"ok": True, "dialect": rt.db.dialect}
    except DatabaseUnavailable as exc:
        body["database"] = {"ok": False, "error": exc.message}
        body["status"] = "degraded"
        return JSONResponse(body | {"reasons": ["database unreachable"]}, status_code=503)
    body["model"] = {"id": rt.query_embedder.model_id, "loaded": rt.query_embedder.loaded}
    if not rt.query_embedder.loaded:
        reasons.append("model not loaded yet: semantic search unavailable")
    lag = rt.index_sync.lag()
    body["index"] = {"size": len(rt.index), **lag}
    if lag["changes_behind"] > 0:
        reasons.append(f"index {lag['changes_behind']} changes behind the database")
    pause = rt.queue.pause_state()
    counts = rt.queue.counts()
    body["queue"] = {
        "paused": pause["paused"],
        "depth": {status: c["total"] for status, c in counts.items()},
        "oldest_pending_age_seconds": rt.queue.oldest_pending_age(),
    }
    body["workers"] = _workers(rt, reasons)
    if reasons:
        body["status"] = "degraded"
    body["reasons"] = reasons
    return JSONResponse(body)


def _workers(rt: RuntimeDep, reasons: list[str]) -> dict[str, Any]:
    if rt.pool is None:
        return {"configured": 0, "alive": 0}
    alive = rt.pool.alive
    if alive < rt.pool.size:
        reasons.append(f"{rt.pool.size - alive} of {rt.pool.size} workers not alive")
    return {"configured": rt.pool.size, "alive": alive}
