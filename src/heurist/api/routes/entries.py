"""/api/v1/experiences and /api/v1/manuals: one router factory, two kinds.

No ``from __future__ import annotations`` here: FastAPI must see the real body
models that the factory closes over, not their names as strings.
"""

from typing import Any

from fastapi import APIRouter, Path, Query, Response

from heurist import limits
from heurist.api.deps import RuntimeDep
from heurist.api.errors import documented
from heurist.api.idempotency import IdempotencyDep
from heurist.domain.kinds import SPECS, KindSpec
from heurist.domain.rules import refuse_cleared
from heurist.domain.vocabulary import EmbeddingStatus, Kind, Section


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "content_hash"}


def entry_router(spec: KindSpec) -> APIRouter:
    kind, create_model, update_model = spec.kind, spec.create, spec.update
    router = APIRouter(prefix=f"/api/v1/{spec.plural}", tags=[spec.plural])
    EntryId = Path(max_length=limits.ENTRY_ID_MAX)

    def create(
        body: create_model,  # type: ignore[valid-type]
        rt: RuntimeDep,
        idempotency: IdempotencyDep,
    ) -> dict[str, Any]:
        data = body.model_dump()  # type: ignore[attr-defined]
        return _public(rt.entries.create(kind, data, key=idempotency.for_body(data)))

    def read(rt: RuntimeDep, entry_id: str = EntryId) -> dict[str, Any]:
        return _public(rt.entries.get(entry_id, kind))

    def change(
        body: update_model,  # type: ignore[valid-type]
        rt: RuntimeDep,
        entry_id: str = EntryId,
    ) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        refuse_cleared(kind, changes)
        return _public(rt.entries.update(entry_id, kind, changes))

    def remove(rt: RuntimeDep, entry_id: str = EntryId) -> Response:
        rt.entries.delete(entry_id, kind)
        return Response(status_code=204)

    def list_(
        rt: RuntimeDep,
        category: str | None = Query(None, max_length=limits.CATEGORY_CODE_MAX),
        section: Section | None = None,
        status: EmbeddingStatus | None = None,
        limit: int = Query(limits.PAGE_SIZE_DEFAULT, ge=1, le=limits.PAGE_SIZE_MAX),
        cursor: str | None = Query(None, max_length=200),
    ) -> dict[str, Any]:
        items, next_cursor = rt.entries.list(
            kind, category=category, section=section, status=status, limit=limit, cursor=cursor
        )
        return {"items": [_public(i) for i in items], "next_cursor": next_cursor}

    router.add_api_route("", create, methods=["POST"], status_code=201)
    router.add_api_route("", list_, methods=["GET"])
    missing = documented(404)
    router.add_api_route("/{entry_id}", read, methods=["GET"], responses=missing)
    router.add_api_route("/{entry_id}", change, methods=["PATCH"], responses=missing)
    router.add_api_route(
        "/{entry_id}", remove, methods=["DELETE"], status_code=204, responses=missing
    )
    return router


experiences = entry_router(SPECS[Kind.EXPERIENCE])
manuals = entry_router(SPECS[Kind.MANUAL])
