"""Request bodies: separate Create and Update schemas per kind, with the documented limits.

Unknown fields are refused (a typo must not be silently dropped), NUL bytes are
refused everywhere, and every limit comes from heurist.limits.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from heurist import limits


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    return value


def Text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_nul)
    ]


Code = Annotated[
    str,
    Field(min_length=1, max_length=limits.CATEGORY_CODE_MAX, pattern=limits.CATEGORY_CODE_PATTERN),
]
Section = Literal["useful", "harmful", "contextual"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CategoryCreate(Strict):
    code: Code
    name: Text(limits.CATEGORY_NAME_MAX, 1)  # type: ignore[valid-type]
    description: Text(limits.CATEGORY_DESCRIPTION_MAX) = ""  # type: ignore[valid-type]


class ExperienceCreate(Strict):
    category: Code
    section: Section
    title: Text(limits.TITLE_MAX, 1)  # type: ignore[valid-type]
    playbook: Text(limits.PLAYBOOK_MAX, 1)  # type: ignore[valid-type]
    context: Text(limits.CONTEXT_MAX) | None = None  # type: ignore[valid-type]
    author: Text(limits.AUTHOR_MAX) | None = None  # type: ignore[valid-type]
    source: Text(limits.SOURCE_MAX) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _context_when_contextual(self) -> ExperienceCreate:
        if self.section == "contextual" and not (self.context or "").strip():
            raise ValueError("context is required when section is 'contextual'")
        return self


class ExperienceUpdate(Strict):
    category: Code | None = None
    section: Section | None = None
    title: Text(limits.TITLE_MAX, 1) | None = None  # type: ignore[valid-type]
    playbook: Text(limits.PLAYBOOK_MAX, 1) | None = None  # type: ignore[valid-type]
    context: Text(limits.CONTEXT_MAX) | None = None  # type: ignore[valid-type]
    author: Text(limits.AUTHOR_MAX) | None = None  # type: ignore[valid-type]
    source: Text(limits.SOURCE_MAX) | None = None  # type: ignore[valid-type]


class ManualCreate(Strict):
    category: Code
    title: Text(limits.TITLE_MAX, 1)  # type: ignore[valid-type]
    content: Text(limits.MANUAL_CONTENT_MAX, 1)  # type: ignore[valid-type]
    summary: Text(limits.MANUAL_SUMMARY_MAX) | None = None  # type: ignore[valid-type]
    author: Text(limits.AUTHOR_MAX) | None = None  # type: ignore[valid-type]
    source: Text(limits.SOURCE_MAX) | None = None  # type: ignore[valid-type]


class ManualUpdate(Strict):
    category: Code | None = None
    title: Text(limits.TITLE_MAX, 1) | None = None  # type: ignore[valid-type]
    content: Text(limits.MANUAL_CONTENT_MAX, 1) | None = None  # type: ignore[valid-type]
    summary: Text(limits.MANUAL_SUMMARY_MAX) | None = None  # type: ignore[valid-type]
    author: Text(limits.AUTHOR_MAX) | None = None  # type: ignore[valid-type]
    source: Text(limits.SOURCE_MAX) | None = None  # type: ignore[valid-type]


# Fields that may not be cleared by a PATCH with an explicit null.
REQUIRED_ON_UPDATE = {
    "experience": ("category", "section", "title", "playbook"),
    "manual": ("category", "title", "content"),
}
