"""/api/v1/categories"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from heurist import limits
from heurist.api.deps import RuntimeDep
from heurist.api.errors import documented
from heurist.api.idempotency import IdempotencyDep
from heurist.domain.models import CategoryCreate

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])


@router.get("")
def list_categories(rt: RuntimeDep) -> dict[str, Any]:
    return {"categories": rt.categories.list()}


@router.post("", status_code=201, responses=documented(409))
def create_category(
    body: CategoryCreate, rt: RuntimeDep, idempotency: IdempotencyDep
) -> dict[str, Any]:
    key = idempotency.for_body(body.model_dump())
    return rt.categories.create(body.code, body.name, body.description, key=key)


@router.get("/{code}", responses=documented(404))
def get_category(
    rt: RuntimeDep, code: str = Path(max_length=limits.CATEGORY_CODE_MAX)
) -> dict[str, Any]:
    return rt.categories.get(code)
