"""Likely duplicates of a text, by keyword and by meaning, within one category and kind.

Two searches through the public API: ``mode=keyword`` (bm25 over words; finds
entries the moment they are written, still ``pending``) and ``mode=semantic``
(its score is the cosine of the entry's best chunk, so it can be compared with a
threshold). An entry is *very close* when its meaning is at least ``threshold``
similar or its title is the same word for word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heurist import limits
from heurist.client import AsyncApiClient
from heurist.domain.vocabulary import SearchMode

DEFAULT_THRESHOLD = 0.85
DEFAULT_LIMIT = 5


@dataclass
class Candidate:
    hit: dict[str, Any]
    keyword_score: float | None = None
    semantic_score: float | None = None
    matched_by: list[str] = field(default_factory=list)

    def public(self, very_close: bool) -> dict[str, Any]:
        out = {k: self.hit.get(k) for k in ("id", "kind", "category", "section", "title")}
        out |= {
            "preview": self.hit.get("snippet", ""),
            "embedding_status": self.hit.get("embedding_status"),
            "similarity": self.semantic_score,
            "keyword_score": self.keyword_score,
            "matched_by": self.matched_by,
            "very_close": very_close,
        }
        return out


def query_text(title: str, body: str) -> str:
    """Title and body as one search query, cut to the API's query limit."""
    return f"{title}\n{body}".strip()[: limits.SEARCH_QUERY_MAX]


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
    # One more than asked when the entry itself may be among the hits.
    params["limit"] = min(limit + (1 if exclude else 0), limits.SEARCH_LIMIT_MAX)
    found: dict[str, Candidate] = {}
    notes: list[str] = []
    for mode in (SearchMode.KEYWORD, SearchMode.SEMANTIC):
        answer = await api.get("/api/v1/search", {**params, "mode": mode})
        notes.extend(answer.get("notes", []))
        for hit in answer["results"]:
            if hit["id"] == exclude:
                continue
            cand = found.setdefault(hit["id"], Candidate(hit))
            cand.matched_by.append(mode)
            setattr(cand, f"{mode}_score", hit["score"])
    ranked = sorted(found.values(), key=lambda c: _rank(c, title, threshold))[:limit]
    out = [c.public(_very_close(c, title, threshold)) for c in ranked]
    result: dict[str, Any] = {
        "candidates": out,
        "very_close": [c["id"] for c in out if c["very_close"]],
        "threshold": threshold,
    }
    if notes:
        result["notes"] = notes
    return result


def _very_close(cand: Candidate, title: str, threshold: float) -> bool:
    same_title = _norm(str(cand.hit.get("title", ""))) == _norm(title)
    return same_title or (cand.semantic_score or 0.0) >= threshold


def _rank(cand: Candidate, title: str, threshold: float) -> tuple[int, float, float]:
    return (
        0 if _very_close(cand, title, threshold) else 1,
        -(cand.semantic_score or 0.0),
        -(cand.keyword_score or 0.0),
    )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


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
