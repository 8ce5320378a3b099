"""/admin: see and steer the queue and the index. Authenticated by middleware."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from heurist.api.deps import RuntimeDep
from heurist.clock import iso

router = APIRouter(prefix="/admin", tags=["admin"])


class RetryFailed(BaseModel):
    kind: Literal["experience", "manual"] | None = None
    ids: list[str] | None = Field(default=None, max_length=10_000)


@router.get("/queue/status")
def queue_status(rt: RuntimeDep) -> dict[str, Any]:
    pause = rt.queue.pause_state()
    return {
        "paused": pause["paused"],
        "pause": pause,
        "queue": rt.queue.counts(),
        "oldest_pending_age_seconds": rt.queue.oldest_pending_age(),
        "workers": _workers(rt),
    }


def _workers(rt: RuntimeDep) -> list[dict[str, Any]]:
    if rt.pool is None:
        return []
    return [
        {
            "id": s.worker_id,
            "alive": s.alive,
            "paused": s.paused,
            "state": s.state,
            "current_batch": list(s.current_batch),
            "last_run": iso(s.last_run),
            "processed": s.processed,
            "succeeded": s.succeeded,
            "failed": s.failed,
            "restarts": s.restarts,
        }
        for s in rt.pool.stats
    ]


@router.post("/queue/pause")
def pause(rt: RuntimeDep) -> dict[str, Any]:
    return rt.queue.pause()


@router.post("/queue/resume")
def resume(rt: RuntimeDep) -> dict[str, Any]:
    return rt.queue.resume()


@router.post("/queue/drain")
async def drain(rt: RuntimeDep, timeout: float = Query(60.0, ge=0, le=3600)) -> dict[str, Any]:
    return await run_in_threadpool(rt.queue.drain, timeout)


@router.post("/queue/retry-failed")
def retry_failed(rt: RuntimeDep, body: RetryFailed | None = None) -> dict[str, Any]:
    body = body or RetryFailed()
    return {"moved": rt.queue.retry_failed(kind=body.kind, ids=body.ids)}


@router.post("/queue/requeue-stale")
def requeue_stale(rt: RuntimeDep) -> dict[str, Any]:
    return {"moved": rt.queue.requeue_stale()}


@router.get("/queue/failed")
def failed(rt: RuntimeDep, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    rows = rt.queue.failed(limit)
    for row in rows:
        row["updated_at"] = iso(row["updated_at"])
        row["next_attempt_at"] = iso(row["next_attempt_at"])
    return {"failed": rows, "count": len(rows)}


@router.post("/index/rebuild")
async def rebuild_index(rt: RuntimeDep) -> dict[str, Any]:
    loaded = await run_in_threadpool(rt.index_sync.rebuild)
    return {"status": "rebuilt", "vectors": loaded}
