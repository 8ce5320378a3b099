"""The words heurist speaks, each defined once as an enum of strings.

Members are ``str`` subclasses: they compare equal to their values, so the database,
JSON and query strings hold plain values and the code names them by member.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeGuard


class Vocabulary(StrEnum):
    @classmethod
    def has(cls, value: object) -> TypeGuard[str]:
        """True if ``value`` is one of the words (a member or its string)."""
        return isinstance(value, str) and value in cls._value2member_map_

    @classmethod
    def listing(cls) -> str:
        """The words for a message: 'useful, harmful, contextual'."""
        return ", ".join(cls)


class Kind(Vocabulary):
    """What an entry is: a short lesson, or long documentation."""

    EXPERIENCE = "experience"
    MANUAL = "manual"


class RecordKind(Vocabulary):
    """What one record of an import or export file holds: a category, or an entry of
    either kind (``Kind``). Categories are not entries: they have a code, not an id, and
    are never embedded."""

    CATEGORY = "category"
    EXPERIENCE = "experience"
    MANUAL = "manual"


class Section(Vocabulary):
    """Where an experience is filed: ``contextual`` ones need their context."""

    USEFUL = "useful"
    HARMFUL = "harmful"
    CONTEXTUAL = "contextual"


class EmbeddingStatus(Vocabulary):
    """An entry's place in the embedding queue (the transitions: ``heurist.queue.sql``)."""

    PENDING = "pending"
    PROCESSING = "processing"
    EMBEDDED = "embedded"
    FAILED = "failed"


class SearchMode(Vocabulary):
    HYBRID = "hybrid"
    SEMANTIC = "semantic"
    KEYWORD = "keyword"


class Fusion(Vocabulary):
    """How hybrid search merges the keyword and semantic lists (``heurist.search.fusion``)."""

    RRF = "rrf"
    MINMAX = "minmax"


class ImportMode(Vocabulary):
    """``upsert`` merges a file into the store by id; ``replace`` makes the store mirror it."""

    UPSERT = "upsert"
    REPLACE = "replace"


class EntryState(Vocabulary):
    """Where an entry is in the curated loop. An entry written into a category with
    ``review`` is ``proposed`` until a curator approves it; search shows ``approved`` ones
    by default; ``retired`` ones (outdated, or merged into another) are kept for history."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    RETIRED = "retired"


class StateFilter(Vocabulary):
    """Which states a search or a list shows: one ``EntryState``, or ``any``."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    RETIRED = "retired"
    ANY = "any"


class Outcome(Vocabulary):
    """What using an entry did: feedback an assistant or a person gives after using it."""

    HELPFUL = "helpful"
    HARMFUL = "harmful"
    OUTDATED = "outdated"


class RevisionAction(Vocabulary):
    """What made a revision of an entry's fields (``GET .../history``)."""

    CREATE = "create"
    UPDATE = "update"
    REVERT = "revert"
    IMPORT = "import"
    BASELINE = "baseline"
