"""The write of an import: staged in short batches, published in one transaction.

``upsert`` inserts new entries and updates existing ones by id; ``replace`` also
deletes every entry and category the file lacks, with their vectors, tombstoned in the
change log so every search process's index drops them. Every imported entry goes back
to the queue as ``pending`` at import priority (below interactive writes); an entry
whose embedded text changed gets a new revision, so a vector computed for the old text
can never be written back as current.

New categories and entries are staged, invisible, in batches (``heurist.transfer.staging``),
so interactive writes go on beside a large import; the publish transaction then applies
the updates of existing rows and replace mode's deletions, checked again against the
store as it is at that moment, and makes the staged rows visible. All or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from heurist.clock import now
from heurist.db.engine import Database
from heurist.db.schema import categories, entries
from heurist.db.visibility import visible
from heurist.domain.kinds import KIND_SPECIFIC_FIELDS
from heurist.domain.vocabulary import ImportMode
from heurist.index import vectors as vector_store
from heurist.limits import PRIORITY_IMPORT
from heurist.queue import sql
from heurist.store.entries import new_row
from heurist.store.history import first_revisions, insert_revisions, record_written
from heurist.transfer.curation import write_curation
from heurist.transfer.history import restore as restore_history
from heurist.transfer.plan import ImportPlan, Progress, check_against_store
from heurist.transfer.records import CategoryRecord, EntryRecord
from heurist.transfer.staging import Checkpoint, StagedImport

BATCH = 1_000


@dataclass(frozen=True)
class ImportResult:
    categories_created: int
    categories_updated: int
    entries_created: int
    entries_updated: int
    entries_deleted: int
    categories_deleted: int
    vectors_deleted: int


@dataclass(frozen=True)
class Existing:
    kind: str
    revision: int
    content_hash: str
    created_at: float


def write_plan(
    db: Database,
    plan: ImportPlan,
    *,
    mode: str,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
) -> ImportResult:
    """Stage the new rows, then publish everything in one transaction; any error (or a
    kill) before the publish commits leaves the store as it was."""
    with db.read() as conn:
        existing = _existing_entries(conn)
        store_categories = visible_categories(conn)
    check_against_store(
        plan,
        store_categories=store_categories,
        store_kinds={k: v.kind for k, v in existing.items()},
        mode=mode,
    )
    cats_new = [c for c in plan.categories if c.code not in store_categories]
    # Entries the store holds are updated when publishing; the others are staged now.
    held = [e for e in plan.entries if e.id is not None and e.id in existing]
    rows_new, _ = _entry_rows([e for e in plan.entries if e.id is None or e.id not in existing], {})
    staged = StagedImport.begin(db, checkpoint=checkpoint)
    try:
        staged.stage(categories, _category_rows(cats_new))
        staged.stage(entries, rows_new, progress=progress)
        staged_ids = {r["id"] for r in rows_new}
        first = first_revisions(rows_new, skip={r.entry_id for r in plan.revisions})
        return staged.publish(
            lambda conn: _publish(
                conn, plan, held, mode, staged_ids, {c.code for c in cats_new}, first
            )
        )
    except BaseException:
        staged.abandon()
        raise


def _publish(
    conn: Connection,
    plan: ImportPlan,
    rest: list[EntryRecord],
    mode: str,
    staged_ids: set[str],
    staged_codes: set[str],
    first: list[dict[str, Any]],
) -> ImportResult:
    """Inside the publish transaction: what the store holds NOW decides the updates of the
    ``rest`` (the entries that existed when the import began)."""
    replace = mode == ImportMode.REPLACE
    existing = _existing_entries(conn, None if replace else [str(e.id) for e in rest])
    store_categories = visible_categories(conn)
    check_against_store(
        ImportPlan(plan.categories, rest),
        store_categories=store_categories | staged_codes,
        store_kinds={k: v.kind for k, v in existing.items()},
        mode=mode,
    )
    cats_old = [c for c in plan.categories if c.code not in staged_codes]
    _insert_categories(conn, [c for c in cats_old if c.code not in store_categories])
    _update_categories(conn, [c for c in cats_old if c.code in store_categories])
    rows_new, rows_old = _entry_rows(rest, existing)
    for part in _batches(rows_new):  # gone since the import began: inserted here
        conn.execute(insert(entries), part)
    for part in _batches(rows_old):
        conn.execute(_update_statement(), part)
    write_curation(conn, plan.entries)
    restore_history(conn, plan.revisions)
    # History: new entries start at their first revision, built without a read; the others
    # get one when their fields differ from their newest revision.
    insert_revisions(conn, first)
    firsts = {r["entry_id"] for r in first}
    written = [*(staged_ids - firsts), *(r["id"] for r in rows_new), *(r["b_id"] for r in rows_old)]
    record_written(conn, written)
    deleted, vectors_gone, cats_gone = 0, 0, 0
    if replace:
        keep = staged_ids | {r["id"] for r in rows_new} | {r["b_id"] for r in rows_old}
        deleted, vectors_gone = _delete_entries(conn, sorted(set(existing) - keep))
        cats_gone = _delete_categories(conn, store_categories - {c.code for c in plan.categories})
    return ImportResult(
        len(staged_codes) + len(cats_old) - len(_present(cats_old, store_categories)),
        len(_present(cats_old, store_categories)),
        len(staged_ids) + len(rows_new),
        len(rows_old),
        deleted,
        cats_gone,
        vectors_gone,
    )


def _present(records: Sequence[CategoryRecord], codes: set[str]) -> list[CategoryRecord]:
    return [c for c in records if c.code in codes]


def visible_categories(conn: Connection) -> set[str]:
    return set(conn.execute(select(categories.c.code).where(visible(categories))).scalars())


def _existing_entries(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, Existing]:
    """The published entries (those with the given ids, when given)."""
    stmt = select(
        entries.c.id,
        entries.c.kind,
        entries.c.revision,
        entries.c.content_hash,
        entries.c.created_at,
    ).where(visible(entries))
    if ids is None:
        rows = list(conn.execute(stmt))
    else:
        rows = [
            r for part in _batches(ids) for r in conn.execute(stmt.where(entries.c.id.in_(part)))
        ]
    return {r.id: Existing(r.kind, r.revision, r.content_hash, r.created_at) for r in rows}


def _category_rows(records: Sequence[CategoryRecord]) -> list[dict[str, Any]]:
    ts = now()
    return [
        {
            "code": c.code,
            "name": c.name,
            "description": c.description,
            "review": c.review,
            "created_at": ts if c.created_at is None else c.created_at,
            "updated_at": ts if c.updated_at is None else c.updated_at,
        }
        for c in records
    ]


def _insert_categories(conn: Connection, records: Sequence[CategoryRecord]) -> None:
    if records:
        conn.execute(insert(categories), _category_rows(records))


def _update_categories(conn: Connection, records: Sequence[CategoryRecord]) -> None:
    if not records:
        return
    ts = now()
    params = [
        {
            "b_code": c.code,
            "v_name": c.name,
            "v_description": c.description,
            "v_review": c.review,
            "v_created_at": c.created_at,
            "v_updated_at": ts if c.updated_at is None else c.updated_at,
        }
        for c in records
    ]
    stmt = (
        update(categories)
        .where(categories.c.code == bindparam("b_code"))
        .values(
            name=bindparam("v_name"),
            description=bindparam("v_description"),
            review=bindparam("v_review"),
            # A file without a creation time keeps the one the store has.
            created_at=func.coalesce(bindparam("v_created_at"), categories.c.created_at),
            updated_at=bindparam("v_updated_at"),
        )
    )
    conn.execute(stmt, params)


def _entry_rows(
    records: Sequence[EntryRecord], existing: dict[str, Existing]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows to insert, and bound parameter sets for the updates of existing ids."""
    new, old = [], []
    for record in records:
        row = new_row(record.kind, record.fields, priority=PRIORITY_IMPORT, entry_id=record.id)
        row |= record.curation
        for column in KIND_SPECIFIC_FIELDS:  # one executemany covers both kinds
            row.setdefault(column, None)
        if record.updated_at is not None:
            row["updated_at"] = record.updated_at
        held = existing.get(row["id"])
        if held is None:
            if record.created_at is not None:
                row["created_at"] = record.created_at
            new.append(row)
            continue
        row["created_at"] = held.created_at if record.created_at is None else record.created_at
        changed = row["content_hash"] != held.content_hash
        row["revision"] = held.revision + 1 if changed else held.revision
        old.append(
            _bound(
                row,
                "id",
                exclude=("id", "kind", "embedded_revision", "embedded_model", "embedded_at"),
            )
        )
    return new, old


def _bound(row: dict[str, Any], key: str, *, exclude: Sequence[str]) -> dict[str, Any]:
    """Parameters for an executemany UPDATE: SQLAlchemy reserves the column names for
    its own SET parameters, so values are bound as ``v_<column>`` and the key as ``b_<key>``.
    """
    out = {f"v_{k}": v for k, v in row.items() if k not in exclude and k != key}
    out[f"b_{key}"] = row[key]
    return out


def _update_statement() -> Any:
    names = (
        "category_code",
        "title",
        "author",
        "source",
        *KIND_SPECIFIC_FIELDS,
        "created_at",
        "updated_at",
        "revision",
        "content_hash",
        "queued_at",
        "priority",
        *sql.REQUEUED,
    )
    return (
        update(entries)
        .where(entries.c.id == bindparam("b_id"))
        .values({name: bindparam(f"v_{name}") for name in names})
    )


def _delete_entries(conn: Connection, ids: Sequence[str]) -> tuple[int, int]:
    # Entry rows are locked before their vectors, the order a worker's write-back takes
    # (the reverse deadlocks against it on PostgreSQL).
    for part in _batches(list(ids)):
        conn.execute(select(entries.c.id).where(entries.c.id.in_(part)).with_for_update())
    vectors_gone = 0
    for entry_id in ids:
        vectors_gone += vector_store.tombstone_entry(conn, entry_id)
    for part in _batches(list(ids)):
        conn.execute(delete(entries).where(entries.c.id.in_(part)))
    return len(ids), vectors_gone


def _delete_categories(conn: Connection, codes: set[str]) -> int:
    if codes:
        conn.execute(delete(categories).where(categories.c.code.in_(sorted(codes))))
    return len(codes)


def _batches(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _advance(progress: Progress | None, n: int) -> None:
    if progress is not None:
        progress(n)
