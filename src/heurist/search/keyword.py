"""Keyword retrieval: SQLite FTS5 with bm25, or PostgreSQL full-text search.

The index is written in the same transaction as the entry (triggers on SQLite, a
generated column on PostgreSQL), so this finds an entry the moment its write returns,
while it is still ``pending``. Filters are part of the SQL, never applied after a cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text

from heurist.db.schema import entries
from heurist.db.visibility import visible_sql
from heurist.domain.vocabulary import EntryState
from heurist.search.budget import TermCounts, within_budget
from heurist.search.stopwords import STOPWORDS

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 64
# bm25 column weights (title, body) on SQLite, tuned on SciFact's training split.
TITLE_WEIGHT = 2.0
BODY_WEIGHT = 1.0
SNIPPET_TOKENS = 32
# A state filter leaving out at most this many entries is applied after a cut inside FTS5
# that many rows deeper (bench/curation_search.py); beyond it, the join comes first.
STATE_HEADROOM_MAX = 2_000
VISIBLE = visible_sql("e")  # not the rows of an unpublished import
# The body as PostgreSQL's keyword index sees it (migration 0001's generated column).
_PG_BODY = (
    "coalesce(e.playbook, '') || ' ' || coalesce(e.context, '') || ' ' || "
    "coalesce(e.summary, '') || ' ' || coalesce(e.content, '')"
)


@dataclass(frozen=True, slots=True)
class Filters:
    kind: str | None = None
    category: str | None = None
    section: str | None = None
    # Entry states shown (``EntryState``); None shows every state.
    states: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class KeywordHit:
    entry_id: str
    score: float


def terms(query: str) -> list[str]:
    """Distinct lower-case words of the query, stop words dropped (all kept if only those)."""
    words = [w.lower() for w in TOKEN.findall(query)]
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_TERMS]


def keyword_search(
    conn: Connection,
    query: str,
    filters: Filters,
    limit: int,
    counts: TermCounts | None = None,
) -> list[KeywordHit]:
    """The best `limit` entries for the query's words; with `counts`, within the work budget."""
    words = terms(query)
    if not words:
        return []
    if conn.dialect.name == "sqlite":
        if counts is not None and len(words) > 1:
            words = within_budget(words, counts.get(conn, words))
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
    if filters.states is not None:
        names = [f"state{i}" for i in range(len(filters.states))]
        clauses.append(f" AND e.state IN ({', '.join(':' + n for n in names)})")
        params.update(zip(names, filters.states, strict=True))
    return "".join(clauses), params


def _sqlite(conn: Connection, words: list[str], filters: Filters, limit: int) -> list[KeywordHit]:
    where, params = _filter_sql(filters)
    rank = f"bm25(entries_fts, {TITLE_WEIGHT}, {BODY_WEIGHT})"
    headroom = _state_headroom(conn, filters)
    # Filters live in the entries table: join before the cut (a state filter that leaves
    # out few entries cuts deeper instead). So does visibility while an import is staging
    # rows (its invisible rows must not take the places of the cut).
    if (where and headroom is None) or _staging(conn):
        sql = f"""SELECT e.id, {rank} AS rank
            FROM entries_fts JOIN entries e ON e.seq = entries_fts.rowid
            WHERE entries_fts MATCH :match AND {VISIBLE}{where}
            ORDER BY rank LIMIT :limit"""
    else:  # rank and cut inside FTS5 first: joining every match costs as much as ranking it
        sql = f"""SELECT e.id, f.rank FROM (
                SELECT rowid, {rank} AS rank FROM entries_fts
                WHERE entries_fts MATCH :match ORDER BY rank LIMIT :inner
            ) f JOIN entries e ON e.seq = f.rowid AND {VISIBLE}
            WHERE 1 = 1{where}
            ORDER BY f.rank LIMIT :limit"""
    inner = limit + (headroom or 0)
    bound = {"match": _fts_match(words), "limit": limit, "inner": inner, **params}
    rows = conn.execute(text(sql), bound).all()
    return [KeywordHit(r.id, -float(r.rank)) for r in rows]


def _staging(conn: Connection) -> bool:
    """Whether an import has rows staged: one probe of a partial index that is empty
    unless an import is running."""
    sql = "SELECT 1 FROM entries WHERE import_id IS NOT NULL LIMIT 1"
    return conn.execute(text(sql)).first() is not None


def _state_headroom(conn: Connection, filters: Filters) -> int | None:
    """How many entries a state-only filter leaves out, when few enough to cut inside FTS5
    with that much room (exact: at most that many of the top ``limit + n`` are dropped);
    None when the filter must join before the cut instead."""
    if filters.states is None or (filters.kind or filters.category or filters.section):
        return None
    others = [s for s in EntryState if s not in filters.states]
    if not others:
        return 0
    stmt = select(func.count()).select_from(
        select(entries.c.seq)
        .where(entries.c.state.in_(others))
        .limit(STATE_HEADROOM_MAX + 1)
        .subquery()
    )
    left_out = int(conn.execute(stmt).scalar_one())
    return left_out if left_out <= STATE_HEADROOM_MAX else None


def _fts_match(words: list[str]) -> str:
    return " OR ".join(f'"{w}"' for w in words)


def keyword_snippets(conn: Connection, query: str, entry_ids: list[str]) -> dict[str, str]:
    """The matched excerpt of each given entry's body, for the results actually shown.

    Computed only for the final page: FTS5 ``snippet()`` re-reads the document, so
    doing it for all 100 fusion candidates would cost more than the search itself.
    """
    words = terms(query)
    if not words or not entry_ids:
        return {}
    ids = {f"id{i}": v for i, v in enumerate(entry_ids)}
    if conn.dialect.name == "sqlite":
        sql = f"""SELECT e.id, snippet(entries_fts, 1, '', '', '…', {SNIPPET_TOKENS}) AS snip
            FROM entries_fts JOIN entries e ON e.seq = entries_fts.rowid
            WHERE entries_fts MATCH :match AND {VISIBLE}
            AND e.id IN ({_placeholders(entry_ids)})"""
        params = {"match": _fts_match(words), **ids}
    else:
        sql = f"""SELECT e.id, ts_headline('english', {_PG_BODY}, to_tsquery('english', :tsq),
                'StartSel="", StopSel="", MaxWords={SNIPPET_TOKENS}, MinWords=12') AS snip
            FROM entries e WHERE e.id IN ({_placeholders(entry_ids)})"""
        params = {"tsq": " | ".join(words), **ids}
    rows = conn.execute(text(sql), params).all()
    return {r.id: r.snip for r in rows if r.snip}


def _placeholders(values: list[str]) -> str:
    return ", ".join(f":id{i}" for i in range(len(values)))


def _postgres(conn: Connection, words: list[str], filters: Filters, limit: int) -> list[KeywordHit]:
    where, params = _filter_sql(filters)
    rows = conn.execute(
        text(
            f"""SELECT e.id, ts_rank_cd(e.search_tsv, q, 1) AS rank
            FROM entries e, to_tsquery('english', :tsq) q
            WHERE e.search_tsv @@ q AND {VISIBLE}{where}
            ORDER BY rank DESC LIMIT :limit"""
        ),
        {"tsq": " | ".join(words), "limit": limit, **params},
    ).all()
    return [KeywordHit(r.id, float(r.rank)) for r in rows]
