"""Idempotency keys: a create retried with the same ``Idempotency-Key`` answers what the
first one did, and creates nothing more.

A key is held per *scope* (the route and the caller) with a hash of the request body and
the first answer. The create that claims the key writes its entry, the key and the answer
in ONE write transaction (:meth:`IdempotentWrite.run`):

1. ``INSERT`` the key ``ON CONFLICT DO NOTHING`` (:func:`claim`);
2. a row inserted: this request owns the key; it creates and stores its answer
   (:func:`record`) before the commit;
3. no row inserted: the key is someone else's; read it (:func:`held`) and replay its answer,
   or answer 409 when the body differs; a key past its expiry is taken over instead
   (:func:`take_over`).

Why this is safe when many requests carry one key at once:

- SQLite: write transactions begin ``IMMEDIATE``, so they run one after another; a later
  one sees the first one's key with its answer (committed together), or no key at all
  when the first rolled back.
- PostgreSQL: an ``INSERT`` of a key that another open transaction has inserted waits on
  the primary key until that transaction ends. If it committed, ours does nothing and the
  ``SELECT`` that follows (a new snapshot under READ COMMITTED) sees its key and answer; if
  it rolled back, our ``INSERT`` goes ahead and this request creates.

Either way no one ever sees a key without its answer, nor an entry without its key, so
exactly one request creates and the others replay. A create that fails (a 4xx, a database
fault) rolls its claim back with it: the retry runs afresh. Keys expire after 24 hours
and are pruned by the requests themselves (:meth:`IdempotentWrite.prune_if_due`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from heurist.clock import now
from heurist.db.engine import Database
from heurist.db.faults import DatabaseFault
from heurist.db.schema import idempotency_keys as keys
from heurist.errors import Conflict

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_MAX = 200
TTL_SECONDS = 24 * 3600.0
PRUNE_EVERY_SECONDS = 60.0
PRUNE_BATCH = 1_000


@dataclass(frozen=True)
class IdempotencyKey:
    """One request's key, where it applies, and what it asked for."""

    key: str
    scope: str
    request_hash: str

    @classmethod
    def of(cls, key: str, *, route: str, caller: str, body: Mapping[str, Any]) -> IdempotencyKey:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return cls(key, f"{route} {caller}", hashlib.sha256(canonical.encode()).hexdigest())


def caller_of(authorization: str | None) -> str:
    """Who sent a request, for a key's scope: a hash of its credentials, never the token."""
    if not authorization:
        return "anonymous"
    return "token:" + hashlib.sha256(authorization.encode()).hexdigest()[:16]


class IdempotentWrite:
    """Runs a create under an optional key (see the module docstring)."""

    def __init__(self, db: Database, *, ttl: float = TTL_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self._last_prune = 0.0
        self._prune_lock = threading.Lock()

    def run(
        self,
        key: IdempotencyKey | None,
        create: Callable[[Connection], dict[str, Any]],
        *,
        status: int = 201,
    ) -> tuple[dict[str, Any], bool]:
        """``create`` (in the write transaction) unless ``key`` was used before: then the
        first answer. Answers (body, replayed)."""
        if key is None:
            with self.db.write() as conn:
                return create(conn), False
        ts = now()
        with self.db.write() as conn:
            first = _claim_or_replay(conn, key, ts, ts + self.ttl)
            if first is None:
                body = create(conn)
                record(conn, key, status, body)
        self.prune_if_due(ts)
        return (body, False) if first is None else (first, True)

    def prune_if_due(self, ts: float) -> int:
        """Remove expired keys, at most once a minute per process; a failure only logs."""
        with self._prune_lock:
            if ts - self._last_prune < PRUNE_EVERY_SECONDS:
                return 0
            self._last_prune = ts
        try:
            with self.db.write() as conn:
                return prune(conn, ts)
        except DatabaseFault as exc:
            log.warning("pruning expired idempotency keys failed: %s; will retry", exc.reason)
            return 0


def _claim_or_replay(
    conn: Connection, key: IdempotencyKey, ts: float, expires: float
) -> dict[str, Any] | None:
    """None when this request owns the key; else the first answer's body."""
    if claim(conn, key, ts, expires):
        return None
    row = held(conn, key)
    if row is None or row.expires_at <= ts:
        if take_over(conn, key, ts, expires):
            return None
        row = held(conn, key)
        if row is None:  # removed between our statements: a prune of an expired key
            if claim(conn, key, ts, expires):
                return None
            row = held(conn, key)
    if row is None:
        raise Conflict(
            f"the {HEADER} '{key.key}' is in use by another request; retry",
            details={"field": HEADER},
        )
    if row.request_hash != key.request_hash:
        raise Conflict(
            f"the {HEADER} '{key.key}' was already used with a different request body; "
            "send a new key for a new request",
            details={"field": HEADER},
        )
    body: dict[str, Any] = json.loads(row.response)
    return body


def claim(conn: Connection, key: IdempotencyKey, ts: float, expires: float) -> bool:
    """Insert the key unless it exists; True when this transaction inserted it.

    Safe concurrently: the primary key (key, scope) admits one row; on PostgreSQL a second
    insert waits for the first transaction to end and then does nothing (or inserts, if the
    first rolled back). The answer columns are filled by :func:`record` before the commit.
    """
    values = {
        "key": key.key,
        "scope": key.scope,
        "request_hash": key.request_hash,
        "status": 0,
        "response": "",
        "created_at": ts,
        "expires_at": expires,
    }
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(keys).values(**values).on_conflict_do_nothing(index_elements=["key", "scope"])
    # RETURNING, not rowcount: psycopg reports no rowcount for this statement.
    return conn.execute(stmt.returning(keys.c.key)).first() is not None


def held(conn: Connection, key: IdempotencyKey) -> Any:
    """The stored key. A plain read: under READ COMMITTED (PostgreSQL) it sees the
    transaction that made :func:`claim` do nothing, committed with its answer."""
    return conn.execute(select(keys).where(_this(key))).first()


def take_over(conn: Connection, key: IdempotencyKey, ts: float, expires: float) -> bool:
    """Reuse an expired key for this request; True when this transaction did.

    Safe concurrently: the ``expires_at <= now`` condition is checked again on the row
    version the update locks (PostgreSQL re-evaluates it after waiting), so of two requests
    taking over one expired key, only the first does; the second then replays its answer.
    """
    result = conn.execute(
        update(keys)
        .where(_this(key), keys.c.expires_at <= ts)
        .values(request_hash=key.request_hash, created_at=ts, expires_at=expires)
    )
    return result.rowcount == 1


def record(conn: Connection, key: IdempotencyKey, status: int, body: Mapping[str, Any]) -> None:
    """Store the answer, in the transaction that claimed the key (so both commit at once)."""
    conn.execute(
        update(keys).where(_this(key)).values(status=status, response=json.dumps(body, default=str))
    )


def prune(conn: Connection, ts: float, *, limit: int = PRUNE_BATCH) -> int:
    """Delete up to ``limit`` expired keys.

    Safe concurrently: on PostgreSQL the victims are picked ``FOR UPDATE SKIP LOCKED``, so
    two pruning processes never wait on (or deadlock over) the same rows, and a key being
    taken over is skipped; SQLite runs one writer at a time.
    """
    if conn.dialect.name == "postgresql":
        sql = """DELETE FROM idempotency_keys WHERE (key, scope) IN (
            SELECT key, scope FROM idempotency_keys WHERE expires_at < :ts
            LIMIT :limit FOR UPDATE SKIP LOCKED)"""
    else:
        sql = """DELETE FROM idempotency_keys WHERE rowid IN (
            SELECT rowid FROM idempotency_keys WHERE expires_at < :ts LIMIT :limit)"""
    return int(conn.execute(text(sql), {"ts": ts, "limit": limit}).rowcount)


def _this(key: IdempotencyKey) -> Any:
    return and_(keys.c.key == key.key, keys.c.scope == key.scope)
