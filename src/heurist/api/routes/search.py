"""/api/v1/search"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from heurist import limits
from heurist.api.deps import RuntimeDep
from heurist.domain.fields import SearchQuery
from heurist.domain.vocabulary import Fusion, Kind, SearchMode, Section
from heurist.search.keyword import Filters

router = APIRouter(prefix="/api/v1", tags=["search"])


@router.get("/search")
def search(
    rt: RuntimeDep,
    q: Annotated[SearchQuery, Query()],
    mode: SearchMode = SearchMode.HYBRID,
    category: str | None = Query(None, max_length=limits.CATEGORY_CODE_MAX),
    kind: Kind | None = None,
    section: Section | None = None,
    limit: int = Query(limits.SEARCH_LIMIT_DEFAULT, ge=1, le=limits.SEARCH_LIMIT_MAX),
    fusion: Fusion | None = Query(
        None, description="how hybrid mode merges the two lists; default: the server's"
    ),
) -> dict[str, Any]:
    filters = Filters(kind=kind, category=category, section=section)
    return rt.search.search(q, mode=mode, filters=filters, limit=limit, fusion=fusion)
