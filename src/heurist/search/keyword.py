"""Keyword retrieval: SQLite FTS5 with bm25, or PostgreSQL full-text search.

The index is written in the same transaction as the entry (triggers on SQLite, a
generated column on PostgreSQL), so this finds an entry the moment its write returns,
while it is still ``pending``. Filters are part of the SQL, never applied after a cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from heurist.search.stopwords import STOPWORDS

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 64


@dataclass(frozen=True, slots=True)
class Filters:
    kind: str | None = None
    category: str | None = None
    section: str | None = None


@dataclass(frozen=True, slots=True)
class KeywordHit:
    entry_id: str
    score: float
    snippet: str


def terms(query: str) -> list[str]:
    """Distinct lower-case words of the query, stop words dropped (all kept if only those)."""
    words = [w.lower() for w in TOKEN.findall(query)]
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_TERMS]


def keyword_search(conn: Connection, query: str, filters: Filters, limit: int) -> list[KeywordHit]:
    words = terms(query)
    if not words:
        return []
    if conn.dialect.name == "sqlite":
        return _sqlite(conn, words, filters, limit)
    return _postgres(conn, words, filters, limit)


def _filter_sql(filters: Filters) -> tuple[str, dict[str, str]]:
    clauses, params = [], {}
    for column, value in (
        ("kind", filters.kind),
        ("category_code", filters.category),
        ("section", filters.section),
    ):
        if value is not None:
            clauses.append(f" AND e.{column} = :{column}")
            params[column] = value
    return "".join(clauses), params


def _sqlite(conn: Connection, words: list[str], filters: Filters, limit: int) -> list[KeywordHit]:
    match = " OR ".join(f'"{w}"' for w in words)
    where, params = _filter_sql(filters)
    rows = conn.execute(
        text(
            f"""SELECT e.id, bm25(entries_fts, 2.0, 1.0) AS rank,
                snippet(entries_fts, 1, '', '', '…', 32) AS snip
            FROM entries_fts JOIN entries e ON e.seq = entries_fts.rowid
            WHERE entries_fts MATCH :match{where}
            ORDER BY rank LIMIT :limit"""
        ),
        {"match": match, "limit": limit, **params},
    ).all()
    return [KeywordHit(r.id, -float(r.rank), r.snip or "") for r in rows]


def _postgres(conn: Connection, words: list[str], filters: Filters, limit: int) -> list[KeywordHit]:
    where, params = _filter_sql(filters)
    rows = conn.execute(
        text(
            f"""SELECT e.id, ts_rank_cd(e.search_tsv, q, 1) AS rank,
                left(coalesce(e.playbook, e.summary, e.content, ''), 240) AS snip
            FROM entries e, to_tsquery('english', :tsq) q
            WHERE e.search_tsv @@ q{where}
            ORDER BY rank DESC LIMIT :limit"""
        ),
        {"tsq": " | ".join(words), "limit": limit, **params},
    ).all()
    return [KeywordHit(r.id, float(r.rank), r.snip or "") for r in rows]
