"""Create and Update models per kind, and the category's Create model.

Unknown fields are refused (a typo must not be silently dropped) and enum values come
out as plain strings. The HTTP API validates request bodies with these, and the import
validates every record of a file with the same Create models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heurist.domain.fields import (
    Author,
    CategoryCode,
    CategoryDescription,
    CategoryName,
    Content,
    Context,
    EntryId,
    FeedbackNote,
    Playbook,
    RetireReason,
    Source,
    Summary,
    Title,
)
from heurist.domain.vocabulary import Outcome, Section


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, use_enum_values=True)


class CategoryCreate(Strict):
    code: CategoryCode
    name: CategoryName
    description: CategoryDescription = ""
    review: bool = False


class CategoryUpdate(Strict):
    name: CategoryName | None = None
    description: CategoryDescription | None = None
    review: bool | None = None


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


class ExperienceUpdate(Strict):
    category: CategoryCode | None = None
    section: Section | None = None
    title: Title | None = None
    playbook: Playbook | None = None
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
    category: CategoryCode | None = None
    title: Title | None = None
    content: Content | None = None
    summary: Summary | None = None
    author: Author | None = None
    source: Source | None = None


class FeedbackCreate(Strict):
    """``POST /api/v1/entries/{id}/feedback``: what using the entry did."""

    outcome: Outcome
    note: FeedbackNote | None = None
    author: Author | None = None


class RetireRequest(Strict):
    reason: RetireReason = ""


class MergeRequest(Strict):
    into: EntryId


class RevertRequest(Strict):
    revision: int = Field(ge=1, le=2**31 - 1)
