"""What gets embedded for an entry, and the hash that says whether it changed.

An update re-embeds only when this hash changes (DESIGN §3.1): editing the author
or the source of an experience does not touch the queue. The fields are the kind's
``embedded`` ones (``heurist.domain.kinds``); how a manual is cut is ``chunking``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from heurist.domain.kinds import SPECS
from heurist.domain.vocabulary import Kind
from heurist.embedding.chunking import TokenWindow, manual_chunks


def content_hash(kind: str, fields: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(kind.encode())
    for name in SPECS[kind].embedded:
        digest.update(b"\x00")
        digest.update((fields.get(name) or "").encode())
    return digest.hexdigest()


def chunks_for(
    kind: str, fields: Mapping[str, Any], window: TokenWindow | None = None
) -> list[str]:
    """The texts to embed for one entry: one for an experience, one per chunk for a manual.

    With the model's ``window`` a manual's chunks are sized in its tokens to fit it;
    without (an embedder that cannot count tokens), in words."""
    if kind == Kind.EXPERIENCE:
        parts = [fields.get("title") or "", fields.get("playbook") or ""]
        if fields.get("context"):
            parts.append(str(fields["context"]))
        return ["\n".join(p for p in parts if p)]
    return manual_chunks(
        fields.get("title") or "",
        fields.get("summary"),
        fields.get("content") or "",
        window=window,
    )
