"""Import and export end to end, for the CLI and for tests: read and validate the whole
file, then write it (under the running server's queue hold when there is one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from heurist.db.engine import Database
from heurist.db.schema import categories, entries
from heurist.domain.vocabulary import RecordKind
from heurist.errors import InvalidInput
from heurist.settings import Settings
from heurist.transfer.coordination import QueueCoordinator
from heurist.transfer.exporter import export_records
from heurist.transfer.files import read_items, write_records
from heurist.transfer.history import REVISION
from heurist.transfer.importer import ImportResult, write_plan
from heurist.transfer.plan import ImportPlan, Progress, build_plan, check_against_store

# Called with the number of records in a phase before it starts ("validate", "write").
PhaseStart = Callable[[str, int], None]


@dataclass(frozen=True)
class ImportOutcome:
    result: ImportResult
    coordinated: bool


def validate_file(
    db: Database,
    path: Path,
    *,
    mode: str,
    on_phase: PhaseStart | None = None,
    progress: Progress | None = None,
) -> ImportPlan:
    """Every record checked against the rules and the store; raises on the first bad one."""
    items = read_items(path)
    if on_phase is not None:
        on_phase("validate", len(items))
    plan = build_plan(items, progress=progress)
    with db.read() as conn:
        store_categories = set(conn.execute(select(categories.c.code)).scalars())
        kinds = {r.id: r.kind for r in conn.execute(select(entries.c.id, entries.c.kind))}
    check_against_store(plan, store_categories=store_categories, store_kinds=kinds, mode=mode)
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
    try:
        if not coordinator.server_running():
            return ImportOutcome(_write(db, plan, mode, on_phase, progress), coordinated=False)
        with coordinator.hold(force=force_while_paused, drain_timeout=drain_timeout):
            result = _write(db, plan, mode, on_phase, progress)
        return ImportOutcome(result, coordinated=True)
    finally:
        coordinator.close()


def _write(
    db: Database,
    plan: ImportPlan,
    mode: str,
    on_phase: PhaseStart | None,
    progress: Progress | None,
) -> ImportResult:
    if on_phase is not None:
        on_phase("write", len(plan.entries))
    return write_plan(db, plan, mode=mode, progress=progress)


def export_file(db: Database, path: Path, *, with_history: bool = False) -> dict[str, int]:
    """Write the whole store to ``path``; answers the count of records per kind
    (``revision`` too, with the history)."""
    if with_history and path.suffix.lower() != ".jsonl":
        raise InvalidInput(
            f"{path.name}: the history is exported to JSONL only; use a .jsonl file",
            field="file",
        )
    records = export_records(db, with_history=with_history)
    write_records(path, records)
    counts: dict[str, Any] = dict.fromkeys(
        (*RecordKind, REVISION) if with_history else RecordKind, 0
    )
    for record in records:
        counts[record["kind"]] += 1
    return counts
