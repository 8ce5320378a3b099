"""Fusing the keyword and semantic lists into one ranking.

Two ways, both measured on SciFact in docs/benchmarks.md (bench/retrieval.py):

- ``rrf``: reciprocal-rank fusion, score = sum of 1 / (k + rank). Needs no score
  scale at all, so it is robust, but it throws away how far ahead the leader is.
- ``minmax``: each retriever's scores are min-max normalized over its own candidate
  list to [0, 1] and summed with weights (a retriever that did not return an entry
  adds 0). BM25 scores and cosines live on different scales; normalizing per list
  puts them on one, and keeps the margins RRF discards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from heurist.domain.vocabulary import Fusion

RRF_K = 60


@dataclass
class Candidate:
    """One entry found by one or more retrievers, with what each of them said about it."""

    entry_id: str
    score: float = 0.0
    matched_by: list[str] = field(default_factory=list)
    snippet: str = ""  # the keyword side's excerpt, filled in for the results shown
    chunk: int | None = None  # the semantic side's best chunk, if it matched
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


def fuse(
    lists: Mapping[str, list[Candidate]],
    method: str = Fusion.RRF,
    *,
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
) -> list[Candidate]:
    """One ranking from several (each best first); ties broken by id for a stable order."""
    if not Fusion.has(method):
        raise ValueError(f"unknown fusion {method!r}; expected one of {Fusion.listing()}")
    merged: dict[str, Candidate] = {}
    for name, ranked in lists.items():
        weight = (weights or {}).get(name, 1.0)
        contributions = _rrf(ranked, k) if method == Fusion.RRF else _minmax(ranked)
        for rank, (cand, part) in enumerate(zip(ranked, contributions, strict=True)):
            into = merged.setdefault(cand.entry_id, Candidate(cand.entry_id))
            into.score += weight * part
            _merge(into, name, rank, cand)
    return sorted(merged.values(), key=lambda c: (-c.score, c.entry_id))


def _rrf(ranked: list[Candidate], k: int) -> list[float]:
    return [1.0 / (k + rank + 1) for rank in range(len(ranked))]


def _minmax(ranked: list[Candidate]) -> list[float]:
    """Scores mapped to [0, 1] within the list; a list of equal scores maps to 1."""
    if not ranked:
        return []
    raw = [c.score for c in ranked]
    low, high = min(raw), max(raw)
    if high - low <= 1e-12:
        return [1.0] * len(raw)
    return [(s - low) / (high - low) for s in raw]


def _merge(into: Candidate, name: str, rank: int, cand: Candidate) -> None:
    into.matched_by.append(name)
    into.ranks[name] = rank
    into.scores[name] = cand.score
    if cand.chunk is not None:
        into.chunk = cand.chunk
