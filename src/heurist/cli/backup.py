"""``heurist backup PATH``: an online copy of the SQLite database."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from heurist.errors import ConfigError
from heurist.settings import load_settings

EXIT_FAILED, EXIT_USAGE = 1, 2

console = Console()
err_console = Console(stderr=True)


def backup_command(
    path: Path = typer.Argument(
        ..., help="The file to write; it must not exist. Restore = put it back as the database."
    ),
) -> None:
    """Copy the SQLite database to PATH while the server keeps writing (a consistent
    snapshot, integrity-checked). On PostgreSQL use pg_dump (docs/deploy.md)."""
    from heurist.db.backup import BackupError, BackupUnsupported, backup
    from heurist.db.engine import Database

    try:
        cfg = load_settings()
    except ConfigError as exc:
        err_console.print(exc.message)
        raise typer.Exit(EXIT_USAGE) from exc
    db = Database(cfg.resolved_database_url)
    try:
        result = backup(db, path)
    except BackupUnsupported as exc:
        err_console.print(exc.message)
        raise typer.Exit(EXIT_USAGE) from exc
    except BackupError as exc:
        err_console.print(exc.message)
        raise typer.Exit(EXIT_FAILED) from exc
    finally:
        db.dispose()
    console.print(
        f"backed up {result.entries} entries to {result.path} "
        f"({result.size_bytes / 1e6:.1f} MB, integrity ok, {result.seconds:.2f}s)"
    )
