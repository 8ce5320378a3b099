"""The embedding cache: every vector ever computed, by (model, SHA-256 of the exact text).

A worker looks here before it calls a model, so an edit that leaves a chunk's text alone,
a re-import of unchanged content, a retry after a lost write-back or the back-fill of a
model the text was once embedded with costs no model call. Rows are only ever inserted
(``ON CONFLICT DO NOTHING``: two workers storing the same text's vector agree on it, and
neither waits for the other) and deleted with their model (``prune``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import Connection, and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from heurist.clock import now
from heurist.db.schema import embedding_cache

# Hashes per lookup statement (well under SQLite's bound-parameter limit).
_LOOKUP_PAGE = 500


def text_hash(text: str) -> str:
    """The cache key of a chunk's exact text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lookup(conn: Connection, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """The cached vectors of ``model`` among ``hashes`` (float32, as stored)."""
    wanted = sorted(set(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), _LOOKUP_PAGE):
        part = wanted[start : start + _LOOKUP_PAGE]
        rows = conn.execute(
            select(embedding_cache.c.text_hash, embedding_cache.c.vector).where(
                and_(embedding_cache.c.model == model, embedding_cache.c.text_hash.in_(part))
            )
        )
        for r in rows:
            found[r.text_hash] = np.frombuffer(r.vector, dtype=np.float32)
    return found


def store(conn: Connection, items: Sequence[tuple[str, str, np.ndarray]]) -> None:
    """Remember (model, text hash, vector) triples; a triple already there is kept."""
    if not items:
        return
    ts = now()
    insert_fn = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    stmt = insert_fn(embedding_cache).on_conflict_do_nothing(index_elements=["model", "text_hash"])
    conn.execute(
        stmt,
        [
            {
                "model": model,
                "text_hash": digest,
                "dim": int(vec.shape[0]),
                "vector": np.asarray(vec, dtype=np.float32).tobytes(),
                "created_at": ts,
            }
            for model, digest, vec in items
        ],
    )


def prune(conn: Connection, model: str) -> int:
    """Forget every cached vector of ``model``."""
    return int(
        conn.execute(delete(embedding_cache).where(embedding_cache.c.model == model)).rowcount
    )


def size(conn: Connection) -> dict[str, int]:
    """Cached vectors per model."""
    rows = conn.execute(
        select(embedding_cache.c.model, func.count()).group_by(embedding_cache.c.model)
    )
    return {r[0]: int(r[1]) for r in rows}
