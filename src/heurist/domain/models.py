"""Create and Update models per kind, and the category's Create model.

Unknown fields are refused (a typo must not be silently dropped) and enum values come
out as plain strings. The HTTP API validates request bodies with these, and the import
validates every record of a file with the same Create models.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heurist.domain.fields import (
    Author,
    CategoryCode,
    CategoryDescription,
    CategoryName,
    Content,
    Context,
    Playbook,
    Source,
    Summary,
    Title,
)
from heurist.domain.vocabulary import Section


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, use_enum_values=True)

    @model_validator(mode="after")
    def _empty_is_absent(self) -> Self:
        """An empty optional text (author, source, context, summary) is no value: the store
        holds null, so every format (a CSV cell cannot tell "" from absent) says the same."""
        for name, info in type(self).model_fields.items():
            if info.default is None and getattr(self, name) == "":
                setattr(self, name, None)
        return self


class CategoryCreate(Strict):
    code: CategoryCode
    name: CategoryName
    description: CategoryDescription = ""


class ExperienceCreate(Strict):
    category: CategoryCode
    section: Section
    title: Title
    playbook: Playbook
    context: Context | None = None
    author: Author | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _context_when_contextual(self) -> ExperienceCreate:
        if self.section == Section.CONTEXTUAL and not (self.context or "").strip():
            raise ValueError("context is required when section is 'contextual'")
        return self


# In an update, a field the entry requires may be left out but not set to null (its
# schema says so: a string, not nullable); an optional one is cleared by null.
def keep() -> Any:
    return Field(default=None, json_schema_extra=_without_default)


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class ExperienceUpdate(Strict):
    category: CategoryCode = keep()
    section: Section = keep()
    title: Title = keep()
    playbook: Playbook = keep()
    context: Context | None = None
    author: Author | None = None
    source: Source | None = None


class ManualCreate(Strict):
    category: CategoryCode
    title: Title
    content: Content
    summary: Summary | None = None
    author: Author | None = None
    source: Source | None = None


class ManualUpdate(Strict):
    category: CategoryCode = keep()
    title: Title = keep()
    content: Content = keep()
    summary: Summary | None = None
    author: Author | None = None
    source: Source | None = None
