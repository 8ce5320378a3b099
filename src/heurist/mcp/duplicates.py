"""Likely duplicates of a text, by keyword and by meaning, within one category and kind.

Two searches through the public API, ``mode=keyword`` and ``mode=semantic``, merged and
ranked by ``heurist.search.duplicates`` (which says what *very close* means).
"""

from __future__ import annotations

from typing import Any

from heurist import limits
from heurist.client import AsyncApiClient
from heurist.domain.vocabulary import EntryState, SearchMode
from heurist.search.duplicates import (
    DEFAULT_LIMIT,
    DEFAULT_THRESHOLD,
    collect,
    query_text,
    ranked,
)

__all__ = ["DEFAULT_LIMIT", "DEFAULT_THRESHOLD", "find_duplicates", "review_hint"]


async def find_duplicates(
    api: AsyncApiClient,
    *,
    kind: str,
    category: str,
    title: str,
    body: str,
    limit: int = DEFAULT_LIMIT,
    threshold: float = DEFAULT_THRESHOLD,
    exclude: str | None = None,
) -> dict[str, Any]:
    """Candidates ranked very close first, then by similarity, then by keyword score."""
    params: dict[str, Any] = {"q": query_text(title, body), "kind": kind, "category": category}
    # A proposed entry is a twin too: it is approved, or refused, before long.
    params["state"] = [EntryState.APPROVED, EntryState.PROPOSED]
    # One more than asked when the entry itself may be among the hits.
    params["limit"] = min(limit + (1 if exclude else 0), limits.SEARCH_LIMIT_MAX)
    answers: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for mode in (SearchMode.KEYWORD, SearchMode.SEMANTIC):
        answer = await api.get("/api/v1/search", {**params, "mode": mode})
        notes.extend(answer.get("notes", []))
        answers[mode] = answer["results"]
    out = ranked(collect(answers, exclude=exclude), title=title, threshold=threshold, limit=limit)
    result: dict[str, Any] = {
        "candidates": out,
        "very_close": [c["id"] for c in out if c["very_close"]],
        "threshold": threshold,
    }
    if notes:
        result["notes"] = notes
    return result


def review_hint(duplicates: dict[str, Any]) -> str | None:
    """A sentence telling the assistant to look before it adds a near-copy, or None."""
    close = [c for c in duplicates["candidates"] if c["very_close"]]
    if not close:
        return None
    best = close[0]
    sim = f"similarity {best['similarity']:.2f}" if best["similarity"] is not None else "same title"
    return (
        f"Review first: '{best['title']}' ({best['id']}, {sim}) looks like the same lesson. "
        f"Read it with read_entries(ids=['{best['id']}'], fields=['all']); if it is, "
        "improve that entry with update_entry rather than keeping two near-copies."
    )
