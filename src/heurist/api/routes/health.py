"""/health: is this process able to do its job, and if not, why (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from heurist.api.deps import RuntimeDep
from heurist.observability.health import health_report

router = APIRouter(tags=["health"])


@router.get("/health")
def health(rt: RuntimeDep) -> JSONResponse:
    """``ok`` or ``degraded`` with reasons; ``503`` only when the database is unreachable."""
    status, body = health_report(rt)
    return JSONResponse(body, status_code=status)
