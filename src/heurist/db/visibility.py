"""Which rows of categories and entries exist for readers: not those of an unpublished import.

An import stages its rows with ``import_id`` set (``heurist.transfer.staging``). They become
visible at once, for everyone, when the import's row in ``imports`` gets ``published_at``
(one short transaction, whatever the import's size); the import then clears ``import_id``
on its rows in short batches, which changes nothing anyone sees. So a row is visible when
its ``import_id`` is NULL or names a published import. Every read, search, count and queue
claim of these tables keeps to this predicate.

For a table without staged rows (the usual case) it costs the ``IS NULL`` test per row: the
subquery is evaluated once per statement, on a table of a handful of rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, or_, select

from heurist.db.schema import imports

PUBLISHED_IMPORTS = "SELECT id FROM imports WHERE published_at IS NOT NULL"


def visible_sql(alias: str = "") -> str:
    """The predicate in SQL text, for a table referred to as ``alias`` (or unqualified)."""
    column = f"{alias}.import_id" if alias else "import_id"
    return f"({column} IS NULL OR {column} IN ({PUBLISHED_IMPORTS}))"


def visible(table: Table) -> Any:
    """The predicate as a SQLAlchemy Core expression."""
    published = select(imports.c.id).where(imports.c.published_at.is_not(None))
    return or_(table.c.import_id.is_(None), table.c.import_id.in_(published))
