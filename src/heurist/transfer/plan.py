"""The whole file, validated before anything is written (all or nothing).

``build_plan`` checks every record on its own and then across records (a code or an
id twice); ``check_against_store`` checks what depends on the database (an entry's
category exists, an id keeps its kind). The importer runs the latter again inside its
write transaction, so a store that changed in between cannot slip past.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from heurist.domain.vocabulary import ImportMode, RecordKind
from heurist.transfer.errors import DeletionRefused, InvalidRecord
from heurist.transfer.records import CategoryRecord, EntryRecord, parse_record
from heurist.transfer.vectors import ImportedVectors

Progress = Callable[[int], None]


@dataclass
class ImportPlan:
    categories: list[CategoryRecord] = field(default_factory=list)
    entries: list[EntryRecord] = field(default_factory=list)
    # The serving model's vectors carried by the file (export --with-vectors), and the model.
    vectors: list[ImportedVectors] = field(default_factory=list)
    vectors_model: str | None = None

    def count(self, kind: str) -> int:
        if kind == RecordKind.CATEGORY:
            return len(self.categories)
        return sum(1 for e in self.entries if e.kind == kind)


def build_plan(items: Iterable[tuple[str, Any]], *, progress: Progress | None = None) -> ImportPlan:
    """Validate every (where, raw record) pair; the first bad one raises InvalidRecord."""
    plan = ImportPlan()
    codes: set[str] = set()
    ids: set[str] = set()
    for where, raw in items:
        record = parse_record(raw, where)
        if isinstance(record, CategoryRecord):
            if record.code in codes:
                raise InvalidRecord(where, "code", f"category '{record.code}' appears twice")
            codes.add(record.code)
            plan.categories.append(record)
        else:
            if record.id is not None:
                if record.id in ids:
                    raise InvalidRecord(where, "id", f"id '{record.id}' appears twice")
                ids.add(record.id)
            plan.entries.append(record)
        if progress is not None:
            progress(1)
    return plan


def check_against_store(
    plan: ImportPlan,
    *,
    store_categories: set[str],
    store_kinds: Mapping[str, str],
    mode: str,
) -> None:
    """Entries name a category that will exist; an id that exists keeps its kind."""
    if not ImportMode.has(mode):
        raise InvalidRecord("options", "mode", f"must be one of {ImportMode.listing()}")
    known = {c.code for c in plan.categories}
    if mode == ImportMode.UPSERT:
        known |= store_categories
    for entry in plan.entries:
        category = entry.fields["category"]
        if category not in known:
            hint = "" if mode == ImportMode.UPSERT else " (replace mode: the file must hold it)"
            raise InvalidRecord(
                entry.where, "category", f"category '{category}' does not exist{hint}"
            )
        held = store_kinds.get(entry.id) if entry.id is not None else None
        if held is not None and held != entry.kind:
            raise InvalidRecord(
                entry.where, "id", f"id '{entry.id}' is a {held} in the store, not a {entry.kind}"
            )


def check_replace(
    plan: ImportPlan,
    *,
    store_categories: set[str],
    store_ids: set[str],
    allow_delete: bool,
) -> None:
    """A replace that brings no records, or deletes more of the store than it keeps, is
    most likely a mistake (an empty or truncated file): refused unless confirmed."""
    if allow_delete:
        return
    file_ids = {e.id for e in plan.entries if e.id is not None}
    file_codes = {c.code for c in plan.categories}
    gone = len(store_ids - file_ids)
    kept = len(store_ids & file_ids)
    codes_gone = len(store_categories - file_codes)
    empty = not plan.entries and not plan.categories
    if not empty and gone <= kept and codes_gone <= len(store_categories & file_codes):
        return
    why = "the file holds no records" if empty else "it would delete more than it keeps"
    raise DeletionRefused(
        f"refused: {why}. This replace would delete {gone} of {len(store_ids)} entries and "
        f"{codes_gone} of {len(store_categories)} categories (keeping {kept} entries). "
        "Check the file; pass --allow-delete to confirm",
        field="mode",
        details={"entries_deleted": gone, "entries_kept": kept, "categories_deleted": codes_gone},
    )
