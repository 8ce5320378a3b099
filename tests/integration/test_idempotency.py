"""Idempotency keys at the store: expiry, take-over of an expired key, and pruning."""

from __future__ import annotations

from sqlalchemy import func, select

from heurist.clock import now
from heurist.db.engine import Database
from heurist.db.schema import idempotency_keys
from heurist.store.idempotency import IdempotencyKey, IdempotentWrite, prune


def key(body: dict[str, object]) -> IdempotencyKey:
    return IdempotencyKey.of("k", route="POST /x", caller="anonymous", body=body)


def stored(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one())


def test_an_expired_key_is_taken_over_by_a_new_request(db: Database) -> None:
    expired = IdempotentWrite(db, ttl=-1.0)  # every key it stores has already expired
    assert expired.run(key({"a": 1}), lambda _conn: {"id": "first"}) == ({"id": "first"}, False)
    # Another body would be a 409 for a live key; for an expired one it is a new request.
    assert expired.run(key({"a": 2}), lambda _conn: {"id": "second"}) == ({"id": "second"}, False)
    live = IdempotentWrite(db)
    assert live.run(key({"a": 3}), lambda _conn: {"id": "third"}) == ({"id": "third"}, False)
    assert live.run(key({"a": 3}), lambda _conn: {"id": "never"}) == ({"id": "third"}, True)
    assert stored(db) == 1


def test_expired_keys_are_pruned_and_live_ones_kept(db: Database) -> None:
    expired, live = IdempotentWrite(db, ttl=-1.0), IdempotentWrite(db)
    for i in range(5):
        body = {"i": i}
        expired.run(IdempotencyKey.of(f"old-{i}", route="r", caller="c", body=body), lambda _c: {})
        live.run(IdempotencyKey.of(f"new-{i}", route="r", caller="c", body=body), lambda _c: {})
    old = stored(db) - 5  # each writer's first run pruned what had expired by then
    assert old >= 3
    with db.write() as conn:
        assert prune(conn, now(), limit=3) == 3
    with db.write() as conn:
        assert prune(conn, now()) == old - 3
    assert stored(db) == 5
