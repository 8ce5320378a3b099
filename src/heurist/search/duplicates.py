"""Likely duplicates of a text: the keyword and semantic hits for it, merged and ranked.

The keyword side (bm25 over words) finds entries the moment they are written, still
``pending``; the semantic side's score is the cosine of the entry's best chunk, so it can
be compared with a threshold. An entry is *very close* when its meaning is at least
``threshold`` similar or its title is the same word for word. Used by the MCP tools
(through the HTTP API) and by the curation inbox (in process).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from heurist import limits

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
            "state": self.hit.get("state"),
            "similarity": self.semantic_score,
            "keyword_score": self.keyword_score,
            "matched_by": self.matched_by,
            "very_close": very_close,
        }
        return out


def query_text(title: str, body: str) -> str:
    """Title and body as one search query, cut to the API's query limit."""
    return f"{title}\n{body}".strip()[: limits.SEARCH_QUERY_MAX]


def collect(
    answers: Mapping[str, Iterable[Mapping[str, Any]]], *, exclude: str | None = None
) -> list[Candidate]:
    """One candidate per entry from the result lists of each mode (``keyword``, ``semantic``)."""
    found: dict[str, Candidate] = {}
    for mode, hits in answers.items():
        for hit in hits:
            if hit["id"] == exclude:
                continue
            cand = found.setdefault(hit["id"], Candidate(dict(hit)))
            cand.matched_by.append(mode)
            setattr(cand, f"{mode}_score", hit["score"])
    return list(found.values())


def ranked(
    candidates: Iterable[Candidate], *, title: str, threshold: float, limit: int
) -> list[dict[str, Any]]:
    """Very close first, then by similarity, then by keyword score; public shapes."""
    order = sorted(candidates, key=lambda c: _rank(c, title, threshold))[:limit]
    return [c.public(_very_close(c, title, threshold)) for c in order]


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
