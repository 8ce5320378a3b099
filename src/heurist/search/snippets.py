"""The snippet shown with a result: the best chunk or the keyword excerpt, never the title again.

A manual's chunks are embedded with the manual's title (and, for the first, its
summary) in front, because the model sees one chunk at a time
(``heurist.embedding.chunking.manual_chunks``). The result already carries the title,
so the snippet drops that prefix and shows the chunk's own text.
"""

from __future__ import annotations

from typing import Any

SNIPPET_CHARS = 240
_SEP = "\n\n"


def chunk_body(row: Any, chunk_text: str) -> str:
    """A stored chunk's text without the title / summary prefix it was embedded with."""
    text = chunk_text
    for prefix in (row.title, row.summary):
        prefix = (prefix or "").strip()
        if prefix and text.startswith(prefix + _SEP):
            text = text[len(prefix) + len(_SEP) :]
    return text.strip()


def lead(row: Any) -> str:
    """The start of an entry's body, when no retriever offered a better excerpt."""
    body = row.playbook or row.summary or row.content or ""
    return str(body)


def clip(text: str, limit: int = SNIPPET_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut + "…"
