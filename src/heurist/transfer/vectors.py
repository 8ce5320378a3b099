"""Backups that carry their vectors (``export --with-vectors``), and a restore that is
searchable by meaning at once, with no model call.

In a ``.jsonl`` each entry record gets a ``"vectors"`` field; in a ``.zip`` the same
objects are the lines of a ``vectors.jsonl`` member, ``{"id": ..., "vectors": [...]}``.
The field is a list with one set per model whose vectors are current for the entry::

    {"model": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384,
     "sha256": [<hex of each chunk's exact text>], "data": [<base64 of float32 LE>]}

On import, the set of the model the store serves is checked (its dimension, each vector's
length and finiteness: an error names the line) and the others are ignored. After the
rows are written, ``write_vectors`` stores the vectors of every entry whose chunks are
exactly the exported ones (same text hashes) and marks it embedded; every vector also goes
into the embedding cache, so an entry whose chunks differ costs a model call only for the
chunks that changed.
"""

from __future__ import annotations

import base64
import binascii
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, select

from heurist.clock import now
from heurist.db.engine import Database
from heurist.db.schema import entries, vectors
from heurist.embedding.embedded_text import chunks_for
from heurist.index import embedding_cache
from heurist.index import vectors as vector_store
from heurist.queue import sql
from heurist.transfer.errors import InvalidRecord

FIELD = "vectors"
ZIP_MEMBER = "vectors.jsonl"
_SHA256_HEX = 64


@dataclass(frozen=True, slots=True)
class ImportedVectors:
    """One entry's vectors of the serving model, as read from the file."""

    where: str
    entry_id: str
    hashes: list[str]
    matrix: np.ndarray


# ---- export -------------------------------------------------------------------------


def current_vectors(conn: Connection, entry_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The exported ``vectors`` field of each entry: every model's current set."""
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(entry_ids), 500):
        part = list(entry_ids[start : start + 500])
        rows = conn.execute(
            select(
                vectors.c.entry_id,
                vectors.c.model,
                vectors.c.dim,
                vectors.c.chunk_index,
                vectors.c.vector,
                vectors.c.chunk_text,
            )
            .join(
                entries,
                and_(entries.c.id == vectors.c.entry_id, entries.c.revision == vectors.c.revision),
            )
            .where(vectors.c.entry_id.in_(part))
            .order_by(vectors.c.entry_id, vectors.c.model, vectors.c.chunk_index)
        ).all()
        sets: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            item = sets.setdefault(
                (r.entry_id, r.model),
                {"model": r.model, "dim": int(r.dim), "sha256": [], "data": []},
            )
            item["sha256"].append(embedding_cache.text_hash(r.chunk_text))
            item["data"].append(base64.b64encode(r.vector).decode("ascii"))
        for (entry_id, _), item in sets.items():
            out.setdefault(entry_id, []).append(item)
    return out


def attach(db: Database, records: list[dict[str, Any]]) -> None:
    """Give every entry record its ``vectors`` field (in place)."""
    ids = [r["id"] for r in records if "id" in r and r.get("kind") != "category"]
    with db.read() as conn:
        found = current_vectors(conn, ids)
    for record in records:
        if record.get("id") in found:
            record[FIELD] = found[record["id"]]


def append_to_zip(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Move the records' ``vectors`` into a ``vectors.jsonl`` member of the zip at ``path``."""
    lines = [json.dumps({"id": r["id"], FIELD: r[FIELD]}) + "\n" for r in records if FIELD in r]
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(ZIP_MEMBER, "".join(lines))


def without_vectors(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != FIELD} for r in records]


# ---- import -------------------------------------------------------------------------


def zip_items(path: Path) -> list[tuple[str, Any]]:
    """The ``vectors.jsonl`` member of a zip as (where, object) pairs; none if absent."""
    with zipfile.ZipFile(path) as archive:
        if ZIP_MEMBER not in archive.namelist():
            return []
        text = archive.read(ZIP_MEMBER).decode("utf-8")
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            where = f"{ZIP_MEMBER} line {number}"
            try:
                items.append((where, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InvalidRecord(where, None, f"not valid JSON: {exc.msg}") from exc
    return items


def collect(
    items: Iterable[tuple[str, Any]], *, model: str | None, dim: int | None
) -> list[ImportedVectors]:
    """The serving model's vector set of every record that carries one, validated.

    ``dim`` is the store's dimension for ``model`` (None: unknown, the file's first set
    fixes it). Sets of other models are ignored."""
    out: list[ImportedVectors] = []
    for where, raw in items:
        if not isinstance(raw, Mapping) or raw.get(FIELD) is None:
            continue
        sets = raw[FIELD]
        if not isinstance(sets, list):
            raise InvalidRecord(where, FIELD, "must be a list of vector sets")
        for n, item in enumerate(sets):
            if not isinstance(item, Mapping) or not isinstance(item.get("model"), str):
                raise InvalidRecord(where, f"{FIELD}[{n}].model", "must be a model id (string)")
            if model is None or item["model"] != model:
                continue
            entry_id = raw.get("id")
            if not isinstance(entry_id, str) or not entry_id:
                raise InvalidRecord(where, "id", "an entry with vectors needs its id")
            parsed = _parse_set(item, where, f"{FIELD}[{n}]", dim)
            dim = parsed.shape[1]
            hashes = item.get("sha256")
            if (
                not isinstance(hashes, list)
                or len(hashes) != len(parsed)
                or not all(isinstance(h, str) and len(h) == _SHA256_HEX for h in hashes)
            ):
                raise InvalidRecord(
                    where, f"{FIELD}[{n}].sha256", "must hold one SHA-256 (hex) per vector"
                )
            out.append(ImportedVectors(where, entry_id, list(hashes), parsed))
    return out


def _parse_set(item: Mapping[str, Any], where: str, field: str, dim: int | None) -> np.ndarray:
    declared = item.get("dim")
    if not isinstance(declared, int) or isinstance(declared, bool) or declared < 1:
        raise InvalidRecord(where, f"{field}.dim", "must be a positive integer")
    if dim is not None and declared != dim:
        raise InvalidRecord(
            where,
            f"{field}.dim",
            f"model {item['model']} has dimension {dim} in this store, not {declared}",
        )
    data = item.get("data")
    if not isinstance(data, list) or not data:
        raise InvalidRecord(where, f"{field}.data", "must be a non-empty list of base64 vectors")
    rows = []
    for k, encoded in enumerate(data):
        try:
            raw = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError) as exc:
            raise InvalidRecord(where, f"{field}.data[{k}]", "is not base64") from exc
        if len(raw) != declared * 4:
            raise InvalidRecord(
                where,
                f"{field}.data[{k}]",
                f"holds {len(raw) // 4} float32 values, expected dim {declared}",
            )
        vec = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(vec).all() or not vec.any():
            raise InvalidRecord(where, f"{field}.data[{k}]", "contains NaN, inf or only zeros")
        rows.append(vec / np.linalg.norm(vec))
    return np.stack(rows).astype(np.float32)


def store_dimension(conn: Connection, model: str) -> int | None:
    """The dimension the store knows for ``model`` (from a stored or cached vector)."""
    dim = conn.execute(select(vectors.c.dim).where(vectors.c.model == model).limit(1)).scalar()
    return None if dim is None else int(dim)


def write_vectors(db: Database, items: Sequence[ImportedVectors], *, model: str) -> int:
    """After the import's rows are written: cache every vector, and store the vectors of
    each entry whose chunks are exactly the exported ones, marking it embedded (guarded:
    only a row still ``pending`` at the revision read). Returns the entries embedded."""
    if not items:
        return 0
    done = 0
    with db.write() as conn:
        embedding_cache.store(
            conn,
            [
                (model, h, vec)
                for item in items
                for h, vec in zip(item.hashes, item.matrix, strict=True)
            ],
        )
        rows = {
            r.id: r
            for part in _parts([i.entry_id for i in items])
            for r in conn.execute(select(entries).where(entries.c.id.in_(part)))
        }
        for item in items:
            row = rows.get(item.entry_id)
            if row is None:
                continue
            chunks = chunks_for(row.kind, dict(row._mapping))
            if [embedding_cache.text_hash(c) for c in chunks] != item.hashes:
                continue  # chunked differently here: the queue embeds it (cache hits)
            if sql.mark_restored(
                conn, entry_id=row.id, revision=row.revision, model=model, now=now()
            ):
                vector_store.upsert_entry_vectors(
                    conn,
                    entry_id=row.id,
                    revision=row.revision,
                    model=model,
                    chunks=chunks,
                    matrix=item.matrix,
                )
                done += 1
    return done


def _parts(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
