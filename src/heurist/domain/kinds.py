"""Per kind, in one place: its models, its fields, which of them are required, which are
embedded, and its plural in the API's paths.

The field lists are read off the Create models, so a field added there reaches the store,
the export columns, the MCP field choices and the embedded hash without another edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from heurist.domain.models import (
    CategoryCreate,
    ExperienceCreate,
    ExperienceUpdate,
    ManualCreate,
    ManualUpdate,
)
from heurist.domain.vocabulary import Kind


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: Kind
    plural: str  # /api/v1/<plural>
    create: type[BaseModel]
    update: type[BaseModel]
    fields: tuple[str, ...]  # every field a client sets, in the API's order
    required: tuple[str, ...]  # a create must give them; an update may not clear them
    body: str  # the main text: required, and what a preview shows
    embedded: tuple[str, ...]  # what is embedded: a change to these re-queues the entry


def _spec(
    kind: Kind,
    plural: str,
    create: type[BaseModel],
    update: type[BaseModel],
    *,
    body: str,
    embedded: tuple[str, ...],
) -> KindSpec:
    fields = tuple(create.model_fields)
    required = tuple(name for name, f in create.model_fields.items() if f.is_required())
    assert tuple(update.model_fields) == fields and body in required
    assert set(embedded) <= set(fields)
    return KindSpec(kind, plural, create, update, fields, required, body, embedded)


SPECS: dict[str, KindSpec] = {
    Kind.EXPERIENCE: _spec(
        Kind.EXPERIENCE,
        "experiences",
        ExperienceCreate,
        ExperienceUpdate,
        body="playbook",
        embedded=("title", "playbook", "context"),
    ),
    Kind.MANUAL: _spec(
        Kind.MANUAL,
        "manuals",
        ManualCreate,
        ManualUpdate,
        body="content",
        embedded=("title", "summary", "content"),
    ),
}
# Fields only some kinds have (their columns are NULL for the others).
KIND_SPECIFIC_FIELDS = tuple(
    dict.fromkeys(
        name
        for spec in SPECS.values()
        for name in spec.fields
        if not all(name in other.fields for other in SPECS.values())
    )
)
CATEGORY_FIELDS = tuple(CategoryCreate.model_fields)
