"""/admin: see and steer the queue and the index. Authenticated by middleware."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from heurist.api.deps import RuntimeDep
from heurist.api.drain_wait import DrainWaiters
from heurist.api.errors import documented
from heurist.clock import iso
from heurist.domain.fields import EntryId
from heurist.domain.vocabulary import Kind
from heurist.queue.registry import fleet

router = APIRouter(prefix="/admin", tags=["admin"])


class RetryFailed(BaseModel):
    kind: Kind | None = None
    ids: list[EntryId] | None = Field(default=None, max_length=10_000)


@router.get("/queue/status")
def queue_status(rt: RuntimeDep) -> dict[str, Any]:
    pause = rt.queue.pause_state()
    return {
        "paused": pause["paused"],
        "pause": pause,
        "queue": rt.queue.counts(),
        "oldest_pending_age_seconds": rt.queue.oldest_pending_age(),
        "workers": _workers(rt),
        "embedding_cache": _cache(rt),
    }


def _cache(rt: RuntimeDep) -> dict[str, int]:
    """This process's workers' cache lookups: chunks found (no model call) and embedded."""
    return rt.pool.signals.cache.snapshot() if rt.pool is not None else {"hits": 0, "misses": 0}


WORKER_FIELDS = (
    "alive",
    "paused",
    "state",
    "current_batch",
    "processed",
    "succeeded",
    "failed",
    "restarts",
)


def _workers(rt: RuntimeDep) -> list[dict[str, Any]]:
    """This process's workers live from memory; every other process's from the registry."""
    local: list[dict[str, Any]] = []
    slots: set[str] = set()
    if rt.pool is not None:
        for stats in rt.pool.stats:
            slots.add(stats.slot)
            local.append(_public(stats.holder, asdict(stats)) | {"local": True})
    remote = [
        _public(row["worker_id"], row)  # the registry's worker_id column holds the holder id
        | {
            "local": False,
            "host": row["host"],
            "pid": row["pid"],
            "last_seen": iso(row["last_seen"]),
        }
        for row in fleet(rt.db, now=time.time())
        if row["slot"] not in slots
    ]
    return local + remote


def _public(holder: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": holder,
        **{k: row[k] for k in WORKER_FIELDS},
        "last_run": iso(row["last_run"]),
    }


@router.post("/queue/pause")
def pause(rt: RuntimeDep) -> dict[str, Any]:
    return rt.queue.pause()


@router.post("/queue/resume")
def resume(rt: RuntimeDep) -> dict[str, Any]:
    return rt.queue.resume()


@router.post("/queue/drain", responses=documented(409, 429))
async def drain(
    request: Request, rt: RuntimeDep, timeout: float = Query(60.0, ge=0, le=3600)
) -> dict[str, Any]:
    """Wait until nothing is pending or processing (without holding a server thread);
    409 while paused, 429 when too many drains wait already."""
    waiters: DrainWaiters = request.app.state.drain_waiters
    return await waiters.drain(rt.queue, timeout)


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
    loaded = await run_in_threadpool(rt.serving.rebuild)
    return {"status": "rebuilt", "vectors": loaded}


class PruneModel(BaseModel):
    model: str = Field(min_length=1, max_length=200)


@router.get("/index/status")
def index_status(rt: RuntimeDep) -> dict[str, Any]:
    """The serving model, a model change in progress, and what each model holds."""
    status = rt.migration.status()
    status["switched_at"] = iso(status["switched_at"])
    if status["migration"] is not None:
        status["migration"]["started_at"] = iso(status["migration"]["started_at"])
    current = rt.serving.current
    status["index"] = {"model": current.model, "vectors": len(current.index)}
    status |= rt.migration.inventory()
    status["embedding_cache"] = _cache(rt)
    return status


@router.post("/index/prune-model")
def prune_model(rt: RuntimeDep, body: PruneModel) -> dict[str, Any]:
    """Delete a model's vectors (409 for the serving model or a migration's target)."""
    return rt.migration.prune(body.model)
