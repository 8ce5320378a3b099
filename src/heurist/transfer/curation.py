"""An entry's standing in the curated loop, in import and export files.

Exported as flat columns (so CSV holds them as JSONL does): ``state``, the three feedback
counts, ``superseded_by`` and ``retired_reason``. A record that gives none of them keeps
what the store has (a new entry starts approved with no feedback); a record that gives
any of them sets all of them, the ones it leaves out at their defaults. A dump of API
answers carries ``feedback`` as an object; that is read too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, update

from heurist import limits
from heurist.db.schema import entries
from heurist.domain.vocabulary import EntryState, Outcome
from heurist.transfer.errors import InvalidRecord

if TYPE_CHECKING:
    from heurist.transfer.records import EntryRecord

COUNTS = tuple(f"feedback_{o}" for o in Outcome)
CURATION_COLUMNS = ("state", *COUNTS, "superseded_by", "retired_reason")
COUNT_MAX = 2**31 - 1


def parse_curation(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The curation columns a record gives, validated and completed; {} when it gives none."""
    if not any(raw.get(k) not in (None, "") for k in (*CURATION_COLUMNS, "feedback")):
        return {}
    state = raw.get("state") or EntryState.APPROVED
    if not EntryState.has(state):
        raise InvalidRecord(where, "state", f"must be one of {EntryState.listing()}")
    out: dict[str, Any] = {"state": state}
    given = raw.get("feedback")
    if given is not None and not isinstance(given, Mapping):
        raise InvalidRecord(where, "feedback", "must be an object of counts")
    for outcome, column in zip(Outcome, COUNTS, strict=True):
        value = raw.get(column)
        if value in (None, "") and given is not None:
            value = given.get(outcome)
        out[column] = _count(value, where, column)
    out["superseded_by"] = _text(raw.get("superseded_by"), where, "superseded_by", 64)
    out["retired_reason"] = _text(
        raw.get("retired_reason"), where, "retired_reason", limits.RETIRE_REASON_MAX
    )
    if out["superseded_by"] is not None and state != EntryState.RETIRED:
        raise InvalidRecord(where, "superseded_by", "only a retired entry is superseded")
    return out


def write_curation(conn: Connection, records: Sequence[EntryRecord]) -> int:
    """Set the curation columns of every record that gives them (ids known); one
    executemany. Runs after the entries are written, inside the import's transaction."""
    params = [
        {"b_id": r.id, **{f"v_{k}": v for k, v in r.curation.items()}}
        for r in records
        if r.curation and r.id is not None
    ]
    if params:
        stmt = (
            update(entries)
            .where(entries.c.id == bindparam("b_id"))
            .values({k: bindparam(f"v_{k}") for k in CURATION_COLUMNS})
        )
        conn.execute(stmt, params)
    return len(params)


def _count(value: Any, where: str, column: str) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        raise InvalidRecord(where, column, "must be a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(where, column, "must be a whole number") from exc
    if number != value and str(number) != str(value).strip():
        raise InvalidRecord(where, column, "must be a whole number")
    if not 0 <= number <= COUNT_MAX:
        raise InvalidRecord(where, column, f"must be between 0 and {COUNT_MAX}")
    return number


def _text(value: Any, where: str, column: str, limit: int) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidRecord(where, column, "must be text without NUL bytes")
    if len(value) > limit:
        raise InvalidRecord(where, column, f"must be at most {limit} characters")
    return value
