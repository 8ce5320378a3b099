"""``heurist import FILE`` and ``heurist export FILE`` (registered in heurist.cli.main).

Exit codes, as for every command: 0 success, 1 the import did not complete (a drain
timed out, the server refused), 2 the file is invalid (the message names the line and
the field; nothing was written), 3 the server vanished, 4 an operator paused the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heurist.cli.failures import EXIT_USAGE, report
from heurist.client import ApiError
from heurist.domain.vocabulary import ImportMode
from heurist.errors import ConfigError, HeuristError, InvalidInput
from heurist.settings import Settings, load_settings
from heurist.transfer.coordination import QueueCoordinator
from heurist.transfer.errors import DrainTimeout, OperatorPaused

if TYPE_CHECKING:
    from heurist.db.engine import Database
    from heurist.transfer.importer import ImportResult
    from heurist.transfer.service import ImportOutcome

# The database and import modules (SQLAlchemy, Alembic) are imported inside the
# commands: heurist.cli.main imports this module, and every other command, above all
# `heurist mcp` (which must answer `initialize` fast), would pay for them.

WAIT_POLL_SECONDS = 0.5

console = Console()
err_console = Console(stderr=True)


def import_command(
    file: Path = typer.Argument(..., help="A .jsonl, a .csv (with a kind column) or a .zip."),
    mode: ImportMode = typer.Option(
        ImportMode.UPSERT, help="upsert merges by id; replace makes the store mirror the file."
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait until everything is embedded."),
    force_while_paused: bool = typer.Option(
        False, "--force-while-paused", help="Import even though an operator paused the queue."
    ),
    drain_timeout: float = typer.Option(600.0, help="Seconds to wait for the queue to drain."),
    allow_delete: bool = typer.Option(
        False,
        "--allow-delete",
        help="With --mode replace: confirm a replace that deletes more entries than it keeps, "
        "or a file with no records (refused otherwise).",
    ),
) -> None:
    """Import a file in one transaction; nothing is written unless every record is valid."""
    from heurist.transfer.service import import_plan, validate_file

    cfg = _settings()
    db = _database(cfg)
    try:
        with _progress() as bars:
            started = time.perf_counter()
            plan = validate_file(
                db,
                file,
                mode=mode.value,
                allow_delete=allow_delete,
                on_phase=bars.phase,
                progress=bars.advance,
            )
            validated = time.perf_counter()
            outcome = import_plan(
                cfg,
                db,
                plan,
                mode=mode.value,
                force_while_paused=force_while_paused,
                drain_timeout=drain_timeout,
                on_phase=bars.phase,
                progress=bars.advance,
            )
            written = time.perf_counter()
    except (HeuristError, OSError) as exc:
        _fail(exc)
    finally:
        db.dispose()
    _report(outcome, validated - started, written - validated)
    if wait:
        _wait_embedded(cfg, outcome)


def export_command(
    file: Path = typer.Argument(..., help="Where to write: .jsonl, .csv or .zip (one CSV a kind)."),
    with_vectors: bool = typer.Option(
        False,
        "--with-vectors",
        help="Also write each entry's vectors with their model (.jsonl, .zip): an import "
        "into a store serving that model is searchable by meaning at once, no model call.",
    ),
) -> None:
    """Export every category, experience and manual, losslessly, in a stable order."""
    from heurist.transfer.service import export_file

    cfg = _settings()
    db = _database(cfg)
    try:
        counts = export_file(db, file, with_vectors=with_vectors)
    except (HeuristError, OSError) as exc:
        raise typer.Exit(report(exc)) from exc
    finally:
        db.dispose()
    console.print(
        f"exported {counts['category']} categories, {counts['experience']} experiences and "
        f"{counts['manual']} manuals to {file}"
    )


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(EXIT_USAGE) from exc


def _database(cfg: Settings) -> Database:
    """The database the server uses; created and migrated if this is its first use."""
    from heurist.db.engine import Database
    from heurist.db.migrate import upgrade
    from heurist.private_files import private_dir

    private_dir(cfg.data_dir)
    db = Database(cfg.resolved_database_url)
    upgrade(db)
    return db


def _fail(exc: HeuristError | OSError) -> NoReturn:
    code = report(exc)
    if isinstance(exc, InvalidInput | OperatorPaused | DrainTimeout | OSError):
        err_console.print("nothing was imported")
    raise typer.Exit(code) from exc


def _report(outcome: ImportOutcome, validate_s: float, write_s: float) -> None:
    r: ImportResult = outcome.result
    console.print(
        f"entries: {r.entries_created} new, {r.entries_updated} updated, "
        f"{r.entries_deleted} deleted ({r.vectors_deleted} vectors removed)\n"
        f"categories: {r.categories_created} new, {r.categories_updated} updated, "
        f"{r.categories_deleted} deleted"
    )
    where = "queue held during the write" if outcome.coordinated else "no server running"
    console.print(f"validated in {validate_s:.2f}s, written in {write_s:.2f}s ({where})")
    if outcome.restored:
        console.print(
            f"{outcome.restored} entries restored with their vectors: searchable by meaning now"
        )
    if outcome.restored < r.entries_created + r.entries_updated:
        console.print("imported entries are pending: the workers embed them in the background")


def _wait_embedded(cfg: Settings, outcome: ImportOutcome) -> None:
    coordinator = QueueCoordinator(cfg)
    try:
        if not coordinator.server_running():
            err_console.print(
                "[yellow]no server is running: nothing embeds until one does[/yellow]"
            )
            return
        total = max(_remaining(coordinator), 1)
        with _progress() as bars:
            bars.phase("embed", total)
            done = 0
            while (left := _remaining(coordinator)) > 0:
                bars.advance(max(total - left - done, 0))
                done = max(done, total - left)
                time.sleep(WAIT_POLL_SECONDS)
            bars.advance(total - done)
    except ApiError as exc:
        _fail(exc)
    finally:
        coordinator.close()
    console.print("all entries embedded")


def _remaining(coordinator: QueueCoordinator) -> int:
    queue = coordinator.status()["queue"]
    return int(queue["pending"]["total"]) + int(queue["processing"]["total"])


class _Bars:
    """One rich task per phase; the library calls phase() then advance(n)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: object | None = None

    def phase(self, name: str, total: int) -> None:
        self.task = self.progress.add_task(name, total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)  # type: ignore[arg-type]


@contextmanager
def _progress() -> Iterator[_Bars]:
    columns = (
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console) as progress:
        yield _Bars(progress)
