"""What the tools hand back: short previews by default, chosen fields on request.

Assistants pay for every token they read, so a search answers with previews; the
full text of an entry costs a second, deliberate call (``fields=[...]``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from heurist.domain.kinds import SPECS
from heurist.errors import InvalidInput

PREVIEW_CHARS = 240
ALL_FIELDS = ("all", "*")
# What an assistant may ask for by name: the kind's fields, its times and its queue state.
READABLE = {
    kind: (*spec.fields, "created_at", "updated_at", "embedding_status", "attempts", "last_error")
    for kind, spec in SPECS.items()
}
# Internal bookkeeping an assistant never needs.
HIDDEN = ("content_hash", "revision", "embedded_revision")


def entries_path(kind: str, entry_id: str | None = None) -> str:
    """The API path of a kind's entries, or of one entry: the id is escaped whole (no
    '/' or '..' of an id can reach another route)."""
    base = f"/api/v1/{SPECS[kind].plural}"
    if not entry_id:
        return base
    segment = quote(entry_id, safe="")
    if segment in (".", ".."):  # a dot segment is resolved away by URL joining
        segment = segment.replace(".", "%2E")
    return f"{base}/{segment}"


def body_text(entry: dict[str, Any]) -> str:
    """The main text of an entry: an experience's playbook, a manual's summary or content."""
    return str(entry.get("playbook") or entry.get("summary") or entry.get("content") or "")


def preview(entry: dict[str, Any]) -> dict[str, Any]:
    """A full entry (as the API returns it) cut down to what a result list needs."""
    text = body_text(entry)
    out: dict[str, Any] = {
        "id": entry["id"],
        "kind": entry["kind"],
        "category": entry["category"],
        "title": entry["title"],
    }
    if entry.get("section"):
        out["section"] = entry["section"]
    out["preview"] = text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")
    out["embedding_status"] = entry["embedding_status"]
    out["updated_at"] = entry.get("updated_at")
    return out


def hit_preview(hit: dict[str, Any]) -> dict[str, Any]:
    """A search result, already short, with the retrieval facts an assistant can use."""
    out: dict[str, Any] = {k: hit[k] for k in ("id", "kind", "category", "title") if k in hit}
    if hit.get("section"):
        out["section"] = hit["section"]
    out |= {
        "preview": hit.get("snippet", ""),
        "embedding_status": hit["embedding_status"],
        "score": hit.get("score"),
        "matched_by": hit.get("matched_by", []),
    }
    return out


def check_fields(kind: str, fields: list[str] | None) -> list[str] | None:
    """The field names asked for, validated; None for previews."""
    if not fields:
        return None
    if any(f in ALL_FIELDS for f in fields):
        return list(READABLE[kind])
    unknown = [f for f in fields if f not in READABLE[kind]]
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {unknown} for a {kind}; choose from {list(READABLE[kind])} or 'all'",
            field="fields",
        )
    return fields


def select(entry: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The chosen fields of a full entry, always with its id, kind, title and queue state."""
    out = {"id": entry["id"], "kind": entry["kind"], "title": entry["title"]}
    out |= {f: entry.get(f) for f in fields}
    out["embedding_status"] = entry["embedding_status"]
    return out


def public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in HIDDEN}
