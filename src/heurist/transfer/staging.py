"""Staged imports: rows written in short batches while invisible, then published at once.

An import does not hold the database's write lock for its whole write (on SQLite, a
20,000-row transaction stalled interactive writes for 28 s). Instead:

1. :meth:`StagedImport.begin` records the import in ``imports`` with a lease;
2. :meth:`StagedImport.stage` inserts its new categories and entries in batches of
   :func:`batch_size` rows, each batch its own short write transaction, every row marked with the
   import's id in ``import_id``. Such rows are invisible: every read, search, count and
   queue claim keeps to ``heurist.db.visibility``, so interactive writes run between the
   batches and nobody sees a half-written import;
3. :meth:`StagedImport.publish` is one short transaction: it applies what cannot be staged
   (updates of rows the store already holds, the deletions of replace mode) and sets the
   import's ``published_at``, which makes all its rows visible at once, whatever their
   number. It commits or not: the import is all or nothing;
4. :meth:`StagedImport.settle` then clears ``import_id`` on its rows in short batches (no
   reader sees a difference) and deletes the import's row.

A killed import leaves only invisible rows, or published ones not yet settled.
:func:`remove_dead_imports`, at the next start or import, removes the rows of a dead
unpublished import (its lease lapsed, or its process on this host is gone, or its
``imports`` row is missing) and settles a dead published one. It deletes an unpublished
import's row first, so an importer that was only stalled finds its import gone and
publishes nothing (:class:`ImportAbandoned`).

``stage`` takes any table with an ``import_id`` column and rows of it: a later kind of row
(vectors of ``import --with-vectors``) stages the same way, and ``publish`` is where its
publication joins the one transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, delete, insert, select, text, union, update

from heurist.clock import now
from heurist.db.engine import Database
from heurist.db.schema import categories, entries, imports
from heurist.errors import StoreError

log = logging.getLogger(__name__)

# Rows per staging transaction. On SQLite an interactive write waits for at most one batch
# to commit (~5 ms on an idle machine, ~30 ms on a loaded one), so batches are small; on
# PostgreSQL it waits for none (row locks), so they are larger.
SQLITE_BATCH = 100
PG_BATCH = 500
# After each batch on SQLite the importer lets go of the write lock this long, so writers
# polling for it (``heurist.db.engine``) get in before its next batch.
YIELD_SECONDS = 0.005
# An import renews its lease with every batch; one that made no progress this long is dead.
LEASE_SECONDS = 120.0
# Every table rows are staged into, dependents first (entries refer to categories): the
# publish and the clean-up of a dead import go through these. A new kind of staged row
# (vectors for ``import --with-vectors``) adds its table here, with an ``import_id`` column.
STAGED_TABLES = (entries, categories)

# Called with the name of each step an import reaches: "staging", "staged entries 250", ...,
# "publishing" (inside the publish transaction, before its commit), "published", "settled".
Checkpoint = Callable[[str], None]
T = TypeVar("T")


class ImportAbandoned(StoreError):
    """The import's staged rows were removed (its lease lapsed): nothing was published."""

    code = "import_abandoned"


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class StagedImport:
    db: Database
    id: str
    lease_seconds: float = LEASE_SECONDS
    checkpoint: Checkpoint | None = None

    @classmethod
    def begin(
        cls,
        db: Database,
        *,
        lease_seconds: float = LEASE_SECONDS,
        checkpoint: Checkpoint | None = None,
    ) -> StagedImport:
        """Remove dead imports' leftovers, then record this one (no rows yet)."""
        remove_dead_imports(db)
        staged = cls(db, uuid.uuid4().hex, lease_seconds, checkpoint)
        ts = now()
        with db.write() as conn:
            conn.execute(
                insert(imports).values(
                    id=staged.id,
                    holder=this_holder(),
                    started_at=ts,
                    lease_expires_at=ts + lease_seconds,
                )
            )
        staged.mark("staging")
        return staged

    def mark(self, step: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(step)

    def stage(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Insert ``rows`` into ``table``, invisible, :func:`batch_size` rows per transaction."""
        done = 0
        for part in batches(rows, batch_size(self.db)):
            with self.db.write() as conn:
                self._renew(conn)
                conn.execute(insert(table), [{**row, "import_id": self.id} for row in part])
            done += len(part)
            self._breathe()
            if progress is not None:
                progress(len(part))
            self.mark(f"staged {table.name} {done}")
        return done

    def publish(self, apply: Callable[[Connection], T]) -> T:
        """One transaction: ``apply`` (what could not be staged), then every staged row
        becomes visible, then :meth:`settle`. Raises ImportAbandoned if the import was
        removed meanwhile."""
        with self.db.write() as conn:
            self._renew(conn)
            result = apply(conn)
            conn.execute(update(imports).where(imports.c.id == self.id).values(published_at=now()))
            self.mark("publishing")
        self.mark("published")
        self.settle()
        self.mark("settled")
        return result

    def settle(self) -> None:
        """Clear ``import_id`` on the published rows, in short batches, then forget the
        import. Nothing visible changes; a kill midway is finished by the next start."""
        for table in STAGED_TABLES:
            key = next(iter(table.primary_key.columns))
            while True:
                with self.db.write() as conn:
                    if not self._renewed(conn):
                        return  # another process settled it meanwhile
                    # Rows a worker is writing back are skipped, not waited for: a wait
                    # in both directions would be a deadlock. They are taken next round.
                    ids = _ids(conn, table, self.id, batch_size(self.db), skip_locked=True)
                    if ids:
                        conn.execute(update(table).where(key.in_(ids)).values(import_id=None))
                self._breathe()
                if len(ids) < batch_size(self.db):
                    if not self._marked(table):
                        break
                    time.sleep(YIELD_SECONDS)  # the rest is held by a write-back: brief
        with self.db.write() as conn:
            conn.execute(delete(imports).where(imports.c.id == self.id))

    def _marked(self, table: Table) -> bool:
        """Whether rows of ``table`` still carry this import's id (locked ones included)."""
        with self.db.read() as conn:
            stmt = select(table.c.import_id).where(table.c.import_id == self.id).limit(1)
            return conn.execute(stmt).first() is not None

    def abandon(self) -> None:
        """Remove what this import staged (after an error); a failure only logs: the next
        start or import removes it anyway."""
        try:
            _remove(self.db, self.id)
        except Exception as exc:  # the error being raised matters more
            log.warning("could not remove the rows of abandoned import %s: %s", self.id, exc)

    def _breathe(self) -> None:
        """SQLite: checkpoint the pages this batch added to the WAL (PASSIVE: never waits
        for nor blocks a writer), so that an interactive write's commit does not pay for
        copying an import's pages; then give waiting writers the lock."""
        if not self.db.is_sqlite:
            return
        with self.db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if raw is not None:
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
        time.sleep(YIELD_SECONDS)

    def _renewed(self, conn: Connection) -> bool:
        """Extend the lease; False when the import's row is gone."""
        renewed = conn.execute(
            update(imports)
            .where(imports.c.id == self.id)
            .values(lease_expires_at=now() + self.lease_seconds)
            .returning(imports.c.id)
        ).first()
        return renewed is not None

    def _renew(self, conn: Connection) -> None:
        """Extend the lease; the import's row missing means it was declared dead."""
        if not self._renewed(conn):
            raise ImportAbandoned(
                "the import was declared dead (it made no progress within its lease) and its "
                "staged rows were removed: nothing was imported; run it again"
            )


def remove_dead_imports(db: Database) -> int:
    """Remove the rows of every dead unpublished import, and settle every dead published
    one; answers how many imports were dealt with."""
    ts = now()
    with db.read() as conn:
        dead = [r for r in conn.execute(select(imports)) if _dead(r, ts)]
        orphans = list(conn.execute(_orphans()).scalars())
    for row in dead:
        if row.published_at is not None:
            log.warning("settling import %s, which died after publishing", row.id)
            StagedImport(db, row.id).settle()
        else:
            log.warning("removing the rows of import %s, which died before publishing", row.id)
            _remove(db, row.id)
    for import_id in orphans:
        log.warning("removing the rows of import %s, whose removal was cut short", import_id)
        _remove(db, import_id)
    return len(dead) + len(orphans)


def _dead(row: Any, ts: float) -> bool:
    if row.lease_expires_at < ts:
        return True
    host, _, pid = str(row.holder).rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphans() -> Any:
    """Import ids on staged rows without an ``imports`` row (a removal that was cut short).
    One statement, so one snapshot: an import that begins meanwhile has its row already."""
    known = select(imports.c.id)
    return union(
        *(
            select(t.c.import_id).where(t.c.import_id.is_not(None), t.c.import_id.not_in(known))
            for t in STAGED_TABLES
        )
    )


def _remove(db: Database, import_id: str) -> None:
    """The ``imports`` row first (a stalled importer can no longer publish), unless it was
    published meanwhile; then the rows, in short batches.

    Safe against a publish of the same import at the same moment: the delete keeps to
    ``published_at IS NULL``, which PostgreSQL checks again on the row version it waited
    for; a published import is left alone (its rows are visible, not leftovers)."""
    with db.write() as conn:
        conn.execute(
            delete(imports).where(imports.c.id == import_id, imports.c.published_at.is_(None))
        )
        if conn.execute(select(imports.c.id).where(imports.c.id == import_id)).first():
            return
    for table in STAGED_TABLES:
        key = next(iter(table.primary_key.columns))
        while True:
            with db.write() as conn:
                victims = _ids(conn, table, import_id, batch_size(db))
                if victims:
                    conn.execute(delete(table).where(key.in_(victims)))
            if len(victims) < batch_size(db):
                break


def _ids(
    conn: Connection, table: Table, import_id: str, limit: int, *, skip_locked: bool = False
) -> list[Any]:
    """Up to ``limit`` primary keys of the import's rows in ``table`` (the partial index),
    locked in key order for the caller's update or delete (PostgreSQL; SQLite serializes
    writers anyway).

    Two processes may settle or remove one import at once (its importer and the next
    start's clean-up): taking the row locks in one order makes the second wait for the
    first instead of deadlocking with it. ``skip_locked`` passes over rows someone else
    holds (a worker writing back a published row), for the caller to come back to."""
    key = next(iter(table.primary_key.columns))
    stmt = (
        select(key).where(table.c.import_id == import_id).order_by(key).limit(limit)
    ).with_for_update(skip_locked=skip_locked)
    return list(conn.execute(stmt).scalars())


def staged_count(conn: Connection) -> int:
    """Rows that carry an import's id (staged, or published and not settled)."""
    return sum(
        int(
            conn.execute(
                text(f"SELECT count(*) FROM {t.name} WHERE import_id IS NOT NULL")
            ).scalar_one()
        )
        for t in STAGED_TABLES
    )


def batch_size(db: Database) -> int:
    return SQLITE_BATCH if db.is_sqlite else PG_BATCH


def batches(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
