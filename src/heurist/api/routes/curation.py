"""The curated loop over HTTP: history and feedback for API users (/api/v1/entries), the
curator's actions and inbox under the admin token (/admin). Each action is one store call,
one transaction (``heurist.store.curation``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from heurist import limits
from heurist.api.deps import RuntimeDep
from heurist.api.errors import documented
from heurist.domain.models import FeedbackCreate, MergeRequest, RetireRequest, RevertRequest
from heurist.search.inbox import inbox

entries = APIRouter(prefix="/api/v1/entries", tags=["curation"])
admin = APIRouter(prefix="/admin", tags=["curation"])
EntryId = Path(max_length=limits.ENTRY_ID_MAX)


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "content_hash"}


@entries.get("/{entry_id}", responses=documented(404))
def read_entry(rt: RuntimeDep, entry_id: str = EntryId) -> dict[str, Any]:
    """An entry of either kind; a merged one names the entry it went into (superseded_by)."""
    return _public(rt.entries.get(entry_id))


@entries.get("/{entry_id}/history", responses=documented(404))
def entry_history(rt: RuntimeDep, entry_id: str = EntryId) -> dict[str, Any]:
    """Every revision of the entry's fields, newest first."""
    return rt.curation.revisions(entry_id)


@entries.post("/{entry_id}/feedback", responses=documented(404))
def give_feedback(body: FeedbackCreate, rt: RuntimeDep, entry_id: str = EntryId) -> dict[str, Any]:
    """Say what using the entry did: helpful, harmful or outdated, with an optional note."""
    entry = rt.curation.feedback(entry_id, body.outcome, note=body.note, author=body.author)
    return _public(entry)


@admin.post("/entries/{entry_id}/approve", responses=documented(404, 409))
def approve(rt: RuntimeDep, entry_id: str = EntryId) -> dict[str, Any]:
    return _public(rt.curation.approve(entry_id))


@admin.post("/entries/{entry_id}/retire", responses=documented(404))
def retire(rt: RuntimeDep, body: RetireRequest, entry_id: str = EntryId) -> dict[str, Any]:
    return _public(rt.curation.retire(entry_id, body.reason))


@admin.post("/entries/{entry_id}/merge", responses=documented(404, 409))
def merge(rt: RuntimeDep, body: MergeRequest, entry_id: str = EntryId) -> dict[str, Any]:
    """Retire this entry as superseded by ``into``; its feedback counts move there."""
    result = rt.curation.merge(entry_id, body.into)
    return {"source": _public(result["source"]), "target": _public(result["target"])}


@admin.post("/entries/{entry_id}/revert", responses=documented(404))
def revert(rt: RuntimeDep, body: RevertRequest, entry_id: str = EntryId) -> dict[str, Any]:
    """Restore the fields of an earlier revision, as a new revision."""
    return _public(rt.curation.revert(entry_id, body.revision))


@admin.get("/curation/inbox")
async def curation_inbox(
    rt: RuntimeDep, limit: int = Query(limits.INBOX_DEFAULT, ge=1, le=limits.INBOX_MAX)
) -> dict[str, Any]:
    """Proposed entries beside their nearest duplicates, and entries flagged by feedback."""
    answer = await run_in_threadpool(inbox, rt.curation, rt.search, limit=limit)
    for item in answer["items"]:
        item["entry"] = _public(item["entry"])
    return answer
