"""One record of an import file, validated into a typed row.

The same limits and rules as the HTTP API: the Create models of ``heurist.domain``
(lengths, patterns, no NUL bytes, unknown fields refused) and its cross-field rules. What the API does not take from a client, a
file may carry so a round trip is lossless: the entry ``id`` and the timestamps.
Queue state is never read from a file: imported rows are always ``pending``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from heurist import limits
from heurist.clock import TIMESTAMP_MAX, TIMESTAMP_MIN, in_range, iso
from heurist.domain.kinds import CATEGORY_FIELDS, SPECS
from heurist.domain.models import CategoryCreate
from heurist.domain.rules import check_rules
from heurist.domain.vocabulary import RecordKind
from heurist.errors import InvalidInput
from heurist.transfer.errors import InvalidRecord

TIMESTAMPS = ("created_at", "updated_at")
# Field order of each record kind, as exported (JSONL keys, CSV columns).
COLUMNS: dict[str, tuple[str, ...]] = {
    RecordKind.CATEGORY: (*CATEGORY_FIELDS, *TIMESTAMPS),
    **{kind: ("id", *spec.fields, *TIMESTAMPS) for kind, spec in SPECS.items()},
}
SCHEMAS: dict[str, type[BaseModel]] = {
    RecordKind.CATEGORY: CategoryCreate,
    **{kind: spec.create for kind, spec in SPECS.items()},
}
META = ("id", *TIMESTAMPS)
# Queue state and derived values, as the API shows them: a file may carry them (a dump of
# API answers) but they are never taken from it. An import always queues as pending.
IGNORED = frozenset(
    (
        "embedding_status",
        "revision",
        "embedded_revision",
        "attempts",
        "last_error",
        "content_hash",
        "counts",
        # Vectors of a backup (export --with-vectors): read by heurist.transfer.vectors.
        "vectors",
    )
)
# Ids are used in URL paths: keep them to a safe alphabet.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    where: str
    code: str
    name: str
    description: str
    created_at: float | None
    updated_at: float | None


@dataclass(frozen=True, slots=True)
class EntryRecord:
    where: str
    kind: str
    id: str | None
    fields: dict[str, Any]
    created_at: float | None
    updated_at: float | None


Record = CategoryRecord | EntryRecord


def parse_record(raw: Any, where: str) -> Record:
    """Validate one raw record (a JSON object or a CSV row) into a typed record."""
    if not isinstance(raw, Mapping):
        raise InvalidRecord(where, None, "a record must be an object")
    kind = raw.get("kind")
    if not RecordKind.has(kind):
        raise InvalidRecord(where, "kind", f"must be one of {RecordKind.listing()}, got {kind!r}")
    body = {k: v for k, v in raw.items() if k != "kind" and k not in META and k not in IGNORED}
    if kind == RecordKind.CATEGORY and "id" in raw:
        body["id"] = raw["id"]  # categories have a code, not an id: refused as unknown
    model = _validate(SCHEMAS[kind], body, where)
    created_at = _timestamp(raw.get("created_at"), where, "created_at")
    updated_at = _timestamp(raw.get("updated_at"), where, "updated_at")
    if isinstance(model, CategoryCreate):
        return CategoryRecord(
            where, model.code, model.name, model.description, created_at, updated_at
        )
    fields = model.model_dump()
    try:
        check_rules(kind, fields)
    except InvalidInput as exc:
        raise InvalidRecord(where, exc.field, exc.message) from exc
    entry_id = _entry_id(raw.get("id"), where)
    return EntryRecord(where, kind, entry_id, fields, created_at, updated_at)


def _validate(schema: type[BaseModel], body: dict[str, Any], where: str) -> BaseModel:
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or None
        raise InvalidRecord(where, field, _message(err)) from exc


def _message(err: Mapping[str, Any]) -> str:
    message = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    return message


def _entry_id(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRecord(where, "id", "must be a string")
    if len(value) > limits.ENTRY_ID_MAX:
        raise InvalidRecord(where, "id", f"must be at most {limits.ENTRY_ID_MAX} characters")
    if not ID_PATTERN.match(value):
        raise InvalidRecord(where, "id", "may hold only letters, digits and . _ : -")
    return value


def _timestamp(value: Any, where: str, field: str) -> float | None:
    """ISO 8601 (as exported) or epoch seconds, within the range heurist stores; absent
    means 'now' at write time."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRecord(where, field, "must be an ISO 8601 time or epoch seconds")
    if isinstance(value, str):
        ts = _parse_iso(value, where, field)
    else:
        try:
            ts = float(value)
        except OverflowError:  # an integer beyond any float
            ts = math.inf
    if not in_range(ts):
        raise InvalidRecord(where, field, f"{_shown(value)} is out of range; {RANGE}")
    return ts


RANGE = (
    f"a time must lie between {iso(TIMESTAMP_MIN)} and {iso(TIMESTAMP_MAX)} "
    f"(epoch seconds {TIMESTAMP_MIN:.0f} to {TIMESTAMP_MAX:.0f})"
)


def _parse_iso(value: str, where: str, field: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRecord(where, field, f"not an ISO 8601 time: {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        raise InvalidRecord(where, field, "needs a time zone (e.g. a trailing Z)")
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):  # year 1 with a positive offset, and the like
        return -math.inf


def _shown(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value) if isinstance(value, str) else str(value)
    return text[:40]
