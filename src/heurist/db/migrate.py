"""Schema migrations (Alembic), run programmatically on heurist's own engine."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from heurist.db.engine import Database
from heurist.db.faults import translated

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with translated(), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, target: str = "head") -> tuple[str | None, str | None]:
    """Apply pending migrations; returns (revision before, revision after). A database
    that cannot be reached raises its fault (``heurist.db.faults``), like any other use."""
    before = current_revision(db)
    config = _config()
    with translated(), db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, target)
        conn.commit()
    after = current_revision(db)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    return before, after
