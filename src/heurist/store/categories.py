"""Categories: the folders entries are filed under."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from heurist.clock import iso, now
from heurist.db.engine import Database
from heurist.db.schema import categories, entries
from heurist.db.visibility import visible
from heurist.domain.vocabulary import Kind
from heurist.errors import Conflict, NotFound
from heurist.store.idempotency import IdempotencyKey, IdempotentWrite


class CategoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.keys = IdempotentWrite(db)

    def create(
        self,
        code: str,
        name: str,
        description: str = "",
        *,
        review: bool = False,
        key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """A new category. With ``key``, a retry answers the first create's category."""
        ts = now()

        def write(conn: Connection) -> dict[str, Any]:
            conn.execute(
                insert(categories).values(
                    code=code,
                    name=name,
                    description=description,
                    review=review,
                    created_at=ts,
                    updated_at=ts,
                )
            )
            return _get(conn, code)

        try:
            category, _replayed = self.keys.run(key, write)
        except IntegrityError as exc:
            raise Conflict(f"category '{code}' already exists", details={"field": "code"}) from exc
        return category

    def update(self, code: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change name, description or review; None values are refused by the model."""
        with self.db.write() as conn:
            if not exists(conn, code):
                raise NotFound(f"category '{code}' does not exist", details={"field": "code"})
            if changes:
                conn.execute(
                    update(categories)
                    .where(categories.c.code == code)
                    .values(**changes, updated_at=now())
                )
        return self.get(code)

    def get(self, code: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return _get(conn, code)

    def list(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(categories).where(visible(categories)).order_by(categories.c.code)
            ).all()
            counts = _counts(conn, None)
        return [_public(r, counts.get(r.code, {})) for r in rows]


def _get(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(
        select(categories).where(categories.c.code == code, visible(categories))
    ).first()
    if row is None:
        raise NotFound(f"category '{code}' does not exist", details={"field": "code"})
    return _public(row, _counts(conn, code).get(code, {}))


def exists(conn: Connection, code: str) -> bool:
    return review_of(conn, code) is not None


def review_of(conn: Connection, code: str) -> bool | None:
    """The category's review flag, or None when there is no such (visible) category."""
    row = conn.execute(
        select(categories.c.review).where(categories.c.code == code, visible(categories))
    ).first()
    return None if row is None else bool(row.review)


def _counts(conn: Connection, code: str | None) -> dict[str, dict[str, int]]:
    stmt = (
        select(entries.c.category_code, entries.c.kind, func.count())
        .where(visible(entries))
        .group_by(entries.c.category_code, entries.c.kind)
    )
    if code is not None:
        stmt = stmt.where(entries.c.category_code == code)
    out: dict[str, dict[str, int]] = {}
    for cat, kind, n in conn.execute(stmt):
        out.setdefault(cat, {})[kind] = int(n)
    return out


def _public(row: Any, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "review": bool(row.review),
        "counts": {kind: counts.get(kind, 0) for kind in Kind},
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
