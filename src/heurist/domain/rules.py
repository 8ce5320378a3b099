"""Rules that span fields, for every way in (the API, the store, the import).

Types and lengths are the models' business (``heurist.domain.models``); these hold for a
whole entry, including one assembled from its current row and a partial update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heurist.domain.kinds import SPECS
from heurist.domain.vocabulary import Kind, Section
from heurist.errors import InvalidInput


def check_rules(kind: str, fields: Mapping[str, Any]) -> None:
    """Required text is not blank; an experience has a known section, and its context
    when the section is ``contextual``."""
    for name in ("category", "title", SPECS[kind].body):
        if not (fields.get(name) or "").strip():
            raise InvalidInput(f"{name} is required and must not be blank", field=name)
    if kind == Kind.EXPERIENCE:
        if not Section.has(fields.get("section")):
            raise InvalidInput(f"section must be one of {Section.listing()}", field="section")
        if fields["section"] == Section.CONTEXTUAL and not (fields.get("context") or "").strip():
            raise InvalidInput("context is required when section is 'contextual'", field="context")


def refuse_cleared(kind: str, changes: Mapping[str, Any]) -> None:
    """An update may not set a required field to null."""
    for name in SPECS[kind].required:
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be cleared", field=name)
