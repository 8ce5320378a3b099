"""The curation inbox: what waits for a curator, newest first.

Two kinds of item: a ``proposed`` entry, beside its nearest entries by meaning and by
keyword (approved or proposed, of the same kind; found with the search service and ranked
as the MCP duplicate check ranks them, ``heurist.search.duplicates``; ``score`` is the
similarity when found by meaning, else the keyword score), and an approved
entry that was ``flagged`` harmful or outdated by feedback, with its latest notes.
"""

from __future__ import annotations

from typing import Any

from heurist import limits
from heurist.domain.kinds import SPECS
from heurist.domain.vocabulary import EntryState, SearchMode
from heurist.search.duplicates import DEFAULT_THRESHOLD, collect, query_text, ranked
from heurist.search.keyword import Filters
from heurist.search.service import SearchService
from heurist.store.curation import CurationStore

# Twins are looked for among entries a reader could meet: not retired ones.
TWIN_STATES = (EntryState.APPROVED, EntryState.PROPOSED)
# The semantic side always has a nearest entry; below this cosine it is no twin (unrelated
# lessons score 0.1-0.4 with all-MiniLM-L6-v2). A keyword match is shown whatever its score.
TWIN_MIN_SIMILARITY = 0.5
PROPOSED, FLAGGED = "proposed", "flagged"


def inbox(
    curation: CurationStore,
    search: SearchService,
    *,
    limit: int = limits.INBOX_DEFAULT,
    twins: int = limits.INBOX_DUPLICATES,
) -> dict[str, Any]:
    items = [
        {
            "why": PROPOSED,
            "since": e["created_at"],
            "entry": e,
            "duplicates": _twins(search, e, twins),
        }
        for e in curation.proposed(limit)
    ]
    items += [
        {"why": FLAGGED, "since": e.pop("flagged_at"), "notes": e.pop("notes"), "entry": e}
        for e in curation.flagged(limit)
    ]
    # ISO 8601 times in UTC sort as text.
    items.sort(key=lambda item: item["since"], reverse=True)
    return {"items": items[:limit], "count": min(len(items), limit)}


def _twins(search: SearchService, entry: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The entry's nearest approved or proposed entries of its kind, itself left out."""
    body = entry.get(SPECS[entry["kind"]].body) or ""
    query = query_text(entry["title"], body)
    filters = Filters(kind=entry["kind"], states=TWIN_STATES)
    answers: dict[str, list[dict[str, Any]]] = {
        mode: search.search(query, mode=mode, filters=filters, limit=limit + 1)["results"]
        for mode in (SearchMode.KEYWORD, SearchMode.SEMANTIC)
    }
    found = [
        c
        for c in collect(answers, exclude=entry["id"])
        if c.keyword_score is not None or (c.semantic_score or 0.0) >= TWIN_MIN_SIMILARITY
    ]
    out = ranked(found, title=entry["title"], threshold=DEFAULT_THRESHOLD, limit=limit)
    for twin in out:
        twin["score"] = (
            twin["similarity"] if twin["similarity"] is not None else twin["keyword_score"]
        )
    return out
