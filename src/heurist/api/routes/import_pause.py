"""/admin/queue/import-pause: the pause a bulk import holds, as a lease (DESIGN §3.9).

The importer takes it after draining and renews it while it writes; if the importer
dies the lease lapses and the workers resume by themselves. It never touches the
operator's own pause (/admin/queue/pause), which has no lease.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from heurist.api.deps import RuntimeDep
from heurist.api.errors import documented
from heurist.domain.fields import Holder

router = APIRouter(prefix="/admin/queue", tags=["admin"])


class ImportPause(BaseModel):
    holder: Holder
    lease_seconds: float | None = Field(default=None, gt=0, le=3600)


@router.post("/import-pause", responses=documented(409))
def acquire(body: ImportPause, rt: RuntimeDep) -> dict[str, Any]:
    """Take or renew the import pause; 409 while another importer holds it."""
    lease = body.lease_seconds or rt.settings.import_pause_lease_seconds
    return rt.queue.acquire_import_pause(body.holder, lease)


@router.delete("/import-pause")
def release(rt: RuntimeDep, holder: Annotated[Holder, Query()]) -> dict[str, Any]:
    """Lift the import pause if ``holder`` holds it, and wake the workers."""
    return rt.queue.release_import_pause(holder)
