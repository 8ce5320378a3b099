"""Vector rows and their change log (DESIGN §4).

Every statement that changes a vector row appends to ``vector_changes`` in the same
transaction, so a search process that replays the log after its last change number
sees every upsert and every deletion. A change row only names the vector: applying it
means re-reading the vector row, so replaying a change twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Select, and_, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from heurist.clock import now
from heurist.db.schema import entries, serving_model, vector_changes, vectors

OP_UPSERT = "upsert"
OP_DELETE = "delete"
_KEY = ("entry_id", "chunk_index", "model")


@dataclass(frozen=True, slots=True)
class VectorRow:
    """One vector row with the entry fields the index filters on; ``vector`` is float32
    (dim,), L2-normalized. What the sync reads from the database and the FAISS index holds."""

    vector_id: int
    entry_id: str
    chunk_index: int
    kind: str
    category: str
    section: str | None
    model: str
    vector: np.ndarray


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    vector_id: int
    entry_id: str
    op: str


def upsert_entry_vectors(
    conn: Connection,
    *,
    entry_id: str,
    revision: int,
    model: str,
    chunks: Sequence[str],
    matrix: np.ndarray,
) -> list[int]:
    """Store one vector per chunk of ``model``, replacing what the entry had of that model:
    one current set per (entry, model). Other models' vectors are left alone."""
    ts = now()
    insert_fn = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    ids: list[int] = []
    for index, (text, vec) in enumerate(zip(chunks, matrix, strict=True)):
        values = {
            "entry_id": entry_id,
            "chunk_index": index,
            "revision": revision,
            "model": model,
            "dim": int(vec.shape[0]),
            "vector": np.asarray(vec, dtype=np.float32).tobytes(),
            "chunk_text": text,
            "updated_at": ts,
        }
        stmt = insert_fn(vectors).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=["entry_id", "chunk_index", "model"],
            set_={k: stmt.excluded[k] for k in values if k not in _KEY},
        ).returning(vectors.c.id)
        ids.append(int(conn.execute(upsert).scalar_one()))
    _log(conn, [(vid, entry_id, OP_UPSERT) for vid in ids])
    stale = (
        conn.execute(
            delete(vectors)
            .where(
                and_(
                    vectors.c.entry_id == entry_id,
                    vectors.c.model == model,
                    vectors.c.chunk_index >= len(chunks),
                )
            )
            .returning(vectors.c.id)
        )
        .scalars()
        .all()
    )
    _log(conn, [(int(vid), entry_id, OP_DELETE) for vid in stale])
    return ids


def current_models(
    conn: Connection, revisions: Mapping[str, int], models: Sequence[str]
) -> set[tuple[str, str]]:
    """The (entry, model) pairs among ``revisions`` x ``models`` whose vectors are current:
    written for the entry's revision given (a worker then has nothing to do for them)."""
    if not revisions or not models:
        return set()
    rows = conn.execute(
        select(vectors.c.entry_id, vectors.c.model, vectors.c.revision).where(
            and_(
                vectors.c.entry_id.in_(list(revisions)),
                vectors.c.model.in_(list(models)),
                vectors.c.chunk_index == 0,
            )
        )
    ).all()
    return {(r.entry_id, r.model) for r in rows if revisions.get(r.entry_id) == r.revision}


def prune_model(conn: Connection, model: str) -> int:
    """Delete every vector of ``model``, unless the database serves it or migrates to it.

    The guard is inside the statement, so a switch committed meanwhile cannot lose the
    vectors search now serves. Not logged as changes: no index holds a model nobody serves
    (an index follows the serving model and rebuilds when it switches)."""
    result = conn.execute(
        delete(vectors).where(
            and_(
                vectors.c.model == model,
                ~select(serving_model.c.id)
                .where(
                    and_(
                        serving_model.c.id == 1,
                        or_(serving_model.c.model == model, serving_model.c.target == model),
                    )
                )
                .exists(),
            )
        )
    )
    return int(result.rowcount)


def count_by_model(conn: Connection) -> dict[str, int]:
    """Vectors per model (an entry's chunks each count)."""
    rows = conn.execute(select(vectors.c.model, func.count()).group_by(vectors.c.model))
    return {r[0]: int(r[1]) for r in rows}


def tombstone_entry(conn: Connection, entry_id: str) -> int:
    """Delete an entry's vectors of every model (before the entry row goes), logging each."""
    gone = (
        conn.execute(delete(vectors).where(vectors.c.entry_id == entry_id).returning(vectors.c.id))
        .scalars()
        .all()
    )
    _log(conn, [(int(vid), entry_id, OP_DELETE) for vid in gone])
    return len(gone)


def touch_entry(conn: Connection, entry_id: str) -> None:
    """Log the entry's vectors as changed: its category or section (index filters) moved."""
    ids = conn.execute(select(vectors.c.id).where(vectors.c.entry_id == entry_id)).scalars()
    _log(conn, [(int(vid), entry_id, OP_UPSERT) for vid in ids])


def _log(conn: Connection, rows: list[tuple[int, str, str]]) -> None:
    if not rows:
        return
    ts = now()
    conn.execute(
        insert(vector_changes),
        [{"vector_id": v, "entry_id": e, "op": op, "created_at": ts} for v, e, op in rows],
    )


def changes_after(conn: Connection, seq: int, limit: int = 10_000) -> list[Change]:
    rows = conn.execute(
        select(vector_changes)
        .where(vector_changes.c.seq > seq)
        .order_by(vector_changes.c.seq)
        .limit(limit)
    ).all()
    return [Change(int(r.seq), int(r.vector_id), r.entry_id, r.op) for r in rows]


def prune_changes(conn: Connection, *, before: float) -> int:
    """Forget changes older than ``before``, keeping the newest one so the maximum stays.

    Every running index has applied them long ago, and a process that starts rebuilds
    from the vector rows, not from the log; without pruning the log grows by one row
    per vector ever written.
    """
    newest = max_change_seq(conn)
    result = conn.execute(
        delete(vector_changes).where(
            and_(vector_changes.c.created_at < before, vector_changes.c.seq < newest)
        )
    )
    return int(result.rowcount)


def max_change_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(vector_changes.c.seq), 0))).scalar_one())


def _vector_query() -> Select[Any]:
    return select(
        vectors.c.id,
        vectors.c.entry_id,
        vectors.c.chunk_index,
        vectors.c.model,
        vectors.c.dim,
        vectors.c.vector,
        entries.c.kind,
        entries.c.category_code,
        entries.c.section,
    ).join(entries, entries.c.id == vectors.c.entry_id)


def _to_row(r: Any) -> VectorRow:
    return VectorRow(
        vector_id=int(r.id),
        entry_id=r.entry_id,
        chunk_index=int(r.chunk_index),
        kind=r.kind,
        category=r.category_code,
        section=r.section,
        model=r.model,
        vector=np.frombuffer(r.vector, dtype=np.float32),
    )


def read_vectors(conn: Connection, vector_ids: Sequence[int]) -> list[VectorRow]:
    out: list[VectorRow] = []
    ids = list(vector_ids)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        out.extend(_to_row(r) for r in conn.execute(_vector_query().where(vectors.c.id.in_(part))))
    return out


def iter_all_vectors(conn: Connection, model: str, batch: int = 5_000) -> Iterator[list[VectorRow]]:
    """Every vector of the given model, in id order, in pages (for a full rebuild)."""
    last = 0
    while True:
        rows = conn.execute(
            _vector_query()
            .where(and_(vectors.c.id > last, vectors.c.model == model))
            .order_by(vectors.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield [_to_row(r) for r in rows]
        last = int(rows[-1].id)


def count_vectors(conn: Connection, model: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(vectors).where(vectors.c.model == model)
        ).scalar_one()
    )


def chunk_texts(conn: Connection, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The text of given (entry, chunk) pairs, for snippets."""
    if not keys:
        return {}
    entry_ids = list({k[0] for k in keys})
    rows = conn.execute(
        select(vectors.c.entry_id, vectors.c.chunk_index, vectors.c.chunk_text).where(
            vectors.c.entry_id.in_(entry_ids)
        )
    ).all()
    wanted = set(keys)
    return {
        (r.entry_id, int(r.chunk_index)): r.chunk_text
        for r in rows
        if (r.entry_id, int(r.chunk_index)) in wanted
    }
