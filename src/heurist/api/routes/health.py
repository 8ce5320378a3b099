"""/health: is this process able to do its job, and if not, why (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from heurist.api.deps import RuntimeDep
from heurist.db.faults import RETRY_AFTER_SECONDS
from heurist.observability.health import health_report_async

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(rt: RuntimeDep) -> JSONResponse:
    """``ok`` or ``degraded`` with reasons; ``503`` only when the database is unreachable.

    Async so that it answers within a second even when every server thread is busy."""
    status, body = await health_report_async(rt)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)
