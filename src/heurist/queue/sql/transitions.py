"""The queue's transitions: claim, heartbeat, completion, failure, release and requeue.

Each function is one statement and says why it is safe when many workers in many processes
run it at once (the state machine is drawn in ``heurist.queue.sql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

from heurist.db.visibility import visible_sql
from heurist.domain.vocabulary import EmbeddingStatus
from heurist.queue.sql.pause import _PAUSED

ERROR_TEXT_MAX = 2_000


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    kind: str
    revision: int
    attempts: int
    title: str
    playbook: str | None
    context: str | None
    content: str | None
    summary: str | None
    queued_at: float

    @property
    def fields(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "playbook": self.playbook,
            "context": self.context,
            "content": self.content,
            "summary": self.summary,
        }


# Queued afresh: what every way back to `pending` with fresh attempts sets.
REQUEUED: dict[str, Any] = {
    "embedding_status": EmbeddingStatus.PENDING.value,
    "attempts": 0,
    "last_error": None,
    "next_attempt_at": 0.0,
    "claimed_by": None,
    "claimed_at": None,
    "lease_expires_at": None,
}
_REQUEUE = ", ".join(f"{column} = :{column}" for column in REQUEUED)
# The holder columns a claim sets; every way out of `processing` clears them.
_DROP_CLAIM = "claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL"
_RELEASE = f"embedding_status = 'pending', {_DROP_CLAIM}"


def requeued(*, revision: int, content_hash: str, now: float, priority: int) -> dict[str, Any]:
    """Column values of an entry queued with new text (a create, an edit of its embedded
    text, an import): ``pending`` at ``revision``, fresh attempts, no holder."""
    return REQUEUED | {
        "revision": revision,
        "content_hash": content_hash,
        "queued_at": now,
        "priority": priority,
    }


# A row an import has staged joins the queue when the import publishes.
_CLAIMABLE = f"""((embedding_status = 'pending' AND next_attempt_at <= :now)
    OR (embedding_status = 'processing' AND lease_expires_at < :now))
    AND {visible_sql()}"""

_CLAIM_SQLITE = f"""
UPDATE entries
SET embedding_status = 'processing', claimed_by = :holder, claimed_at = :now,
    lease_expires_at = :lease, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM entries WHERE {_CLAIMABLE} AND NOT {_PAUSED}
    ORDER BY priority, queued_at LIMIT :limit)
RETURNING id, kind, revision, attempts, title, playbook, context, content, summary, queued_at
"""

_CLAIM_POSTGRES = f"""
UPDATE entries
SET embedding_status = 'processing', claimed_by = :holder, claimed_at = :now,
    lease_expires_at = :lease, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM entries WHERE {_CLAIMABLE} AND NOT {_PAUSED}
    ORDER BY priority, queued_at LIMIT :limit
    FOR UPDATE SKIP LOCKED)
RETURNING id, kind, revision, attempts, title, playbook, context, content, summary, queued_at
"""


def claim(
    conn: Connection, *, holder: str, limit: int, now: float, lease_seconds: float
) -> list[Claimed]:
    """Take up to ``limit`` claimable rows for ``holder``, in one statement.

    Safe because selection and update are one statement: on SQLite the write lock
    (BEGIN IMMEDIATE) serializes claimers; on PostgreSQL ``FOR UPDATE SKIP LOCKED``
    makes concurrent claimers skip each other's rows, and the outer WHERE re-checks
    nothing stale. Rows whose lease has expired are taken as well (their holder is
    gone or stuck), and the pause flag is read inside the same statement.
    """
    sql = _CLAIM_SQLITE if conn.dialect.name == "sqlite" else _CLAIM_POSTGRES
    rows = conn.execute(
        text(sql),
        {"holder": holder, "now": now, "lease": now + lease_seconds, "limit": limit},
    ).all()
    claimed = [Claimed(**row._mapping) for row in rows]
    claimed.sort(key=lambda c: c.queued_at)
    return claimed


_HELD = "claimed_by = :holder AND embedding_status = 'processing' AND id IN :ids"
_HEARTBEAT_SQLITE = f"UPDATE entries SET lease_expires_at = :lease WHERE {_HELD}"
_HEARTBEAT_POSTGRES = f"""UPDATE entries SET lease_expires_at = :lease
WHERE id IN (SELECT id FROM entries WHERE {_HELD} FOR UPDATE SKIP LOCKED)"""


def heartbeat(
    conn: Connection, *, holder: str, ids: Sequence[str], now: float, lease_seconds: float
) -> int:
    """Extend the lease of rows ``holder`` still holds; rows it lost are not touched.

    On PostgreSQL the beat skips rows locked by someone else: the only one who locks
    a held row is its own write-back, and an UPDATE that waited for it would take its
    row locks in another order and deadlock with it (seen under load: PostgreSQL then
    aborts one of the two, sometimes the write-back). A row being written back needs
    no longer lease, and if the write-back rolls back the next beat covers it.
    """
    if not ids:
        return 0
    sql = _HEARTBEAT_SQLITE if conn.dialect.name == "sqlite" else _HEARTBEAT_POSTGRES
    stmt = text(sql).bindparams(bindparam("ids", expanding=True))
    result = conn.execute(stmt, {"lease": now + lease_seconds, "holder": holder, "ids": list(ids)})
    return int(result.rowcount)


# The claim this holder made is still current: the revision it claimed, still its own.
_STILL_OURS = """id = :id AND revision = :revision AND claimed_by = :holder
    AND embedding_status = 'processing'"""


def mark_embedded(
    conn: Connection, *, entry_id: str, revision: int, holder: str, model: str, now: float
) -> bool:
    """Guarded completion: only if the row still has the claimed revision and holder.

    An edit made meanwhile set the row back to ``pending`` with a new revision and no
    holder, and a deletion removed it: in both cases this matches nothing, and the
    caller drops its stale vectors in the same transaction.
    """
    result = conn.execute(
        text(
            f"""UPDATE entries SET embedding_status = 'embedded', embedded_revision = :revision,
            embedded_model = :model, embedded_at = :now, last_error = NULL, {_DROP_CLAIM}
            WHERE {_STILL_OURS}"""
        ),
        {"id": entry_id, "revision": revision, "holder": holder, "model": model, "now": now},
    )
    return int(result.rowcount) == 1


def mark_restored(
    conn: Connection, *, entry_id: str, revision: int, model: str, now: float
) -> bool:
    """An imported entry whose vectors came with the file: ``pending`` -> ``embedded``.

    Guarded by the revision the import wrote and by no holder: a worker that claimed the
    row meanwhile completes it itself (from the cache, which the restore filled first),
    and an edit made meanwhile has another revision.
    """
    result = conn.execute(
        text(
            """UPDATE entries SET embedding_status = 'embedded', embedded_revision = :revision,
            embedded_model = :model, embedded_at = :now, last_error = NULL
            WHERE id = :id AND revision = :revision AND embedding_status = 'pending'
                AND claimed_by IS NULL"""
        ),
        {"id": entry_id, "revision": revision, "model": model, "now": now},
    )
    return int(result.rowcount) == 1


def mark_failed_attempt(
    conn: Connection,
    *,
    entry_id: str,
    revision: int,
    holder: str,
    error: str,
    next_attempt_at: float,
    max_attempts: int,
    permanent: bool,
) -> str | None:
    """Record a failed attempt: back to ``pending`` after a backoff, or ``failed``.

    Guarded like completion, so a failure never overwrites an edit made meanwhile.
    Returns the new status, or None when the row was no longer ours.
    """
    row = conn.execute(
        text(
            f"""UPDATE entries SET
                embedding_status = CASE WHEN :permanent OR attempts >= :max_attempts
                                        THEN 'failed' ELSE 'pending' END,
                last_error = :error, next_attempt_at = :next_attempt_at, {_DROP_CLAIM}
            WHERE {_STILL_OURS}
            RETURNING embedding_status"""
        ),
        {
            "id": entry_id,
            "revision": revision,
            "holder": holder,
            "error": error[:ERROR_TEXT_MAX],
            "next_attempt_at": next_attempt_at,
            "max_attempts": max_attempts,
            "permanent": permanent,
        },
    ).first()
    return None if row is None else str(row[0])


def release(
    conn: Connection, *, holder: str, ids: Sequence[str], not_before: float, refund: bool
) -> int:
    """Give rows back to the queue unembedded (shutdown, provider outage).

    With ``refund`` the attempt the claim counted is returned: an outage of the
    provider is not the entry's fault and must not burn its attempts.
    """
    if not ids:
        return 0
    stmt = text(
        f"""UPDATE entries SET {_RELEASE}, next_attempt_at = :not_before,
            attempts = CASE WHEN :refund AND attempts > 0 THEN attempts - 1 ELSE attempts END
        WHERE {_HELD}"""
    ).bindparams(bindparam("ids", expanding=True))
    result = conn.execute(
        stmt, {"holder": holder, "ids": list(ids), "not_before": not_before, "refund": refund}
    )
    return int(result.rowcount)


def release_held(conn: Connection, *, holder: str, not_before: float) -> int:
    """Everything ``holder`` holds goes back to ``pending``, the claim's attempt refunded.

    After a database fault a worker cannot know what it holds: a claim can commit while
    its answer is lost, a write-back can commit or not. So it gives back every row still
    claimed under its id (ids are unique per worker life). Guarded like completion:
    rows it no longer holds (completed, edited, taken over after a lease expiry) are
    not touched. The database's fault is not the entry's: no attempt is burnt.
    """
    result = conn.execute(
        text(
            f"""UPDATE entries SET {_RELEASE}, next_attempt_at = :not_before,
                attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE attempts END
            WHERE claimed_by = :holder AND embedding_status = 'processing'"""
        ),
        {"holder": holder, "not_before": not_before},
    )
    return int(result.rowcount)


def release_instance(
    conn: Connection, *, instance_prefix: str, keep_prefix: str | None = None
) -> int:
    """Rows held under ``instance_prefix`` go back to ``pending`` at once.

    Holder ids are ``<instance>/<boot>/w<slot>.<restart>``. At start-up a row held under this
    instance name but another boot (``keep_prefix`` is the current boot) was orphaned
    by a crash, and nobody will ever heartbeat it again. At shutdown the current boot
    releases what it still holds.
    """
    sql = f"""UPDATE entries SET {_RELEASE}
        WHERE embedding_status = 'processing' AND claimed_by LIKE :prefix"""
    params = {"prefix": instance_prefix + "%"}
    if keep_prefix is not None:
        sql += " AND claimed_by NOT LIKE :keep"
        params["keep"] = keep_prefix + "%"
    return int(conn.execute(text(sql), params).rowcount)


def requeue_stale(conn: Connection, *, now: float) -> int:
    """Rows in ``processing`` whose lease has expired go back to ``pending``."""
    result = conn.execute(
        text(
            f"""UPDATE entries SET {_RELEASE}
            WHERE embedding_status = 'processing' AND lease_expires_at < :now"""
        ),
        {"now": now},
    )
    return int(result.rowcount)


def retry_failed(
    conn: Connection, *, kind: str | None = None, ids: Sequence[str] | None = None
) -> int:
    """Failed rows back to ``pending`` with fresh attempts (and their old error cleared, as
    an edit clears it: the next failure writes its own)."""
    sql = f"UPDATE entries SET {_REQUEUE} WHERE embedding_status = 'failed'"
    params: dict[str, Any] = dict(REQUEUED)
    if kind is not None:
        sql += " AND kind = :kind"
        params["kind"] = kind
    stmt = text(sql)
    if ids is not None:
        stmt = text(sql + " AND id IN :ids").bindparams(bindparam("ids", expanding=True))
        params["ids"] = list(ids)
    return int(conn.execute(stmt, params).rowcount)


def requeue_for_model(conn: Connection, *, model: str, priority: int, now: float) -> int:
    """Embedded entries without current vectors of ``model`` go back to the queue, behind
    interactive work: the back-fill of a model change. Idempotent (an entry back-filled
    already has its vectors and is not matched), so every start and every migration step
    may run it. Rows ``processing`` are left to their holder.
    """
    result = conn.execute(
        text(
            f"""UPDATE entries SET {_REQUEUE}, priority = :priority, queued_at = :now
            WHERE embedding_status = 'embedded' AND NOT EXISTS (
                SELECT 1 FROM vectors v WHERE v.entry_id = entries.id AND v.model = :model
                    AND v.chunk_index = 0 AND v.revision = entries.revision)"""
        ),
        {**REQUEUED, "model": model, "priority": priority, "now": now},
    )
    return int(result.rowcount)
