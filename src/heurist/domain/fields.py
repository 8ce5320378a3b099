"""Every text field a client can set, as an ``Annotated`` type with its documented limit.

Each refuses NUL bytes (PostgreSQL cannot store them, and no real text holds one) with
the same validator, placed after the length constraints so that pydantic reports a too
long value as 'String should have at most N characters'. The limits come from
``heurist.limits``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from heurist import limits


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    return value


def _not_blank(value: str) -> str:
    # str.isspace covers every Unicode space (tab, newline, U+00A0, U+3000, ...).
    if value.isspace():
        raise ValueError("must not be blank (whitespace only)")
    return value


NO_NUL = AfterValidator(_no_nul)
NOT_BLANK = AfterValidator(_not_blank)

CategoryCode = Annotated[
    str,
    Field(min_length=1, max_length=limits.CATEGORY_CODE_MAX, pattern=limits.CATEGORY_CODE_PATTERN),
]
CategoryName = Annotated[str, Field(min_length=1, max_length=limits.CATEGORY_NAME_MAX), NO_NUL]
CategoryDescription = Annotated[str, Field(max_length=limits.CATEGORY_DESCRIPTION_MAX), NO_NUL]

Title = Annotated[str, Field(min_length=1, max_length=limits.TITLE_MAX), NO_NUL]
Playbook = Annotated[str, Field(min_length=1, max_length=limits.PLAYBOOK_MAX), NO_NUL]
Context = Annotated[str, Field(max_length=limits.CONTEXT_MAX), NO_NUL]
Content = Annotated[str, Field(min_length=1, max_length=limits.MANUAL_CONTENT_MAX), NO_NUL]
Summary = Annotated[str, Field(max_length=limits.MANUAL_SUMMARY_MAX), NO_NUL]
Author = Annotated[str, Field(max_length=limits.AUTHOR_MAX), NO_NUL]
Source = Annotated[str, Field(max_length=limits.SOURCE_MAX), NO_NUL]
EntryId = Annotated[str, Field(min_length=1, max_length=limits.ENTRY_ID_MAX), NO_NUL]
# Who holds the import pause (an importer names itself).
Holder = Annotated[str, Field(min_length=1, max_length=limits.HOLDER_MAX), NO_NUL]
# A search query: something to look for, in any script.
SearchQuery = Annotated[
    str, Field(min_length=1, max_length=limits.SEARCH_QUERY_MAX), NO_NUL, NOT_BLANK
]
