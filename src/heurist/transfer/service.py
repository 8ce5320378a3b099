"""Import and export end to end, for the CLI and for tests: read and validate the whole
file, then write it (under the running server's queue hold when there is one)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from heurist.db.engine import Database
from heurist.db.schema import entries
from heurist.db.visibility import visible
from heurist.domain.vocabulary import ImportMode, RecordKind
from heurist.errors import InvalidInput
from heurist.queue import sql
from heurist.settings import Settings
from heurist.transfer import vectors as backup
from heurist.transfer.coordination import QueueCoordinator
from heurist.transfer.exporter import export_records
from heurist.transfer.files import read_items, write_records
from heurist.transfer.importer import ImportResult, visible_categories, write_plan
from heurist.transfer.plan import (
    ImportPlan,
    Progress,
    build_plan,
    check_against_store,
    check_replace,
)
from heurist.transfer.staging import Checkpoint

# Called with the number of records in a phase before it starts ("validate", "write").
PhaseStart = Callable[[str, int], None]


@dataclass(frozen=True)
class ImportOutcome:
    result: ImportResult
    coordinated: bool
    # Entries stored with the vectors the file carried: embedded at once, no model call.
    restored: int = 0


def validate_file(
    db: Database,
    path: Path,
    *,
    mode: str,
    allow_delete: bool = False,
    on_phase: PhaseStart | None = None,
    progress: Progress | None = None,
) -> ImportPlan:
    """Every record checked against the rules and the store; raises on the first bad one.
    A replace that would delete more than it keeps needs ``allow_delete``."""
    items = read_items(path)
    if on_phase is not None:
        on_phase("validate", len(items))
    plan = build_plan(items, progress=progress)
    with db.read() as conn:
        store_categories = visible_categories(conn)
        kinds = {
            r.id: r.kind
            for r in conn.execute(select(entries.c.id, entries.c.kind).where(visible(entries)))
        }
        model = sql.read_serving(conn).model
        dim = None if model is None else backup.store_dimension(conn, model)
    check_against_store(plan, store_categories=store_categories, store_kinds=kinds, mode=mode)
    if mode == ImportMode.REPLACE:
        check_replace(
            plan, store_categories=store_categories, store_ids=set(kinds), allow_delete=allow_delete
        )
    carried = backup.zip_items(path) if path.suffix.lower() == ".zip" else items
    plan.vectors = backup.collect(carried, model=model, dim=dim)
    plan.vectors_model = model
    return plan


def import_plan(
    settings: Settings,
    db: Database,
    plan: ImportPlan,
    *,
    mode: str,
    force_while_paused: bool = False,
    drain_timeout: float = 600.0,
    on_phase: PhaseStart | None = None,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Write the plan; with a server running, drain → pause → write → release."""
    coordinator = QueueCoordinator(settings)
    checkpoint = stdin_checkpoint if settings.import_checkpoints else None
    try:
        if not coordinator.server_running():
            return _write(db, plan, mode, on_phase, progress, checkpoint, coordinated=False)
        with coordinator.hold(force=force_while_paused, drain_timeout=drain_timeout):
            return _write(db, plan, mode, on_phase, progress, checkpoint, coordinated=True)
    finally:
        coordinator.close()


def _write(
    db: Database,
    plan: ImportPlan,
    mode: str,
    on_phase: PhaseStart | None,
    progress: Progress | None,
    checkpoint: Checkpoint | None,
    *,
    coordinated: bool,
) -> ImportOutcome:
    if on_phase is not None:
        on_phase("write", len(plan.entries))
    result = write_plan(db, plan, mode=mode, progress=progress, checkpoint=checkpoint)
    restored = 0
    if plan.vectors and plan.vectors_model is not None:
        restored = backup.write_vectors(db, plan.vectors, model=plan.vectors_model)
    return ImportOutcome(result, coordinated=coordinated, restored=restored)


def stdin_checkpoint(step: str) -> None:
    """For fault tests (``HEURIST_IMPORT_CHECKPOINTS``): say where the import is, and wait
    until told to go on, so a test can kill it at exactly that step."""
    sys.stderr.write(f"import checkpoint: {step}\n")
    sys.stderr.flush()
    sys.stdin.readline()


def export_file(db: Database, path: Path, *, with_vectors: bool = False) -> dict[str, int]:
    """Write the whole store to ``path``; answers the count of records per kind.

    ``with_vectors``: each entry's current vectors go along (``.jsonl`` and ``.zip``)."""
    records = export_records(db)
    if with_vectors:
        if path.suffix.lower() not in (".jsonl", ".zip"):
            raise InvalidInput(
                f"{path.name}: --with-vectors writes .jsonl or .zip, not {path.suffix}",
                field="file",
            )
        backup.attach(db, records)
    if with_vectors and path.suffix.lower() == ".zip":
        write_records(path, backup.without_vectors(records))
        backup.append_to_zip(path, records)
    else:
        write_records(path, records)
    counts: dict[str, Any] = dict.fromkeys(RecordKind, 0)
    for record in records:
        counts[record["kind"]] += 1
    return counts
