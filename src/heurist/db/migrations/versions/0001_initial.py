"""Initial schema: categories, entries with their queue state, vectors, change log, pause flag,
and the keyword index (FTS5 on SQLite, a generated tsvector on PostgreSQL).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_FTS = [
    """CREATE VIRTUAL TABLE entries_fts USING fts5(
        title, body, tokenize = 'porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_fts(rowid, title, body) VALUES (new.seq, new.title,
            coalesce(new.playbook, '') || ' ' || coalesce(new.context, '') || ' ' ||
            coalesce(new.summary, '') || ' ' || coalesce(new.content, ''));
    END""",
    """CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, playbook, context, summary, content
        ON entries BEGIN
        DELETE FROM entries_fts WHERE rowid = old.seq;
        INSERT INTO entries_fts(rowid, title, body) VALUES (new.seq, new.title,
            coalesce(new.playbook, '') || ' ' || coalesce(new.context, '') || ' ' ||
            coalesce(new.summary, '') || ' ' || coalesce(new.content, ''));
    END""",
    """CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        DELETE FROM entries_fts WHERE rowid = old.seq;
    END""",
]

POSTGRES_FTS = [
    """ALTER TABLE entries ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(playbook, '') || ' ' || coalesce(context, '')
            || ' ' || coalesce(summary, '') || ' ' || coalesce(content, '')), 'B')
    ) STORED""",
    "CREATE INDEX ix_entries_search_tsv ON entries USING gin (search_tsv)",
]


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    _create_entries()
    _create_vectors()
    op.create_table(
        "queue_control",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("operator_paused", sa.Boolean, nullable=False),
        sa.Column("operator_paused_at", sa.Float),
        sa.Column("import_paused_until", sa.Float),
        sa.Column("import_paused_by", sa.String(200)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.execute("INSERT INTO queue_control (id, operator_paused, updated_at) VALUES (1, false, 0)")
    statements = SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS
    for statement in statements:
        op.execute(statement)


def _create_entries() -> None:
    op.create_table(
        "entries",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "category_code",
            sa.String(64),
            sa.ForeignKey("categories.code", ondelete="RESTRICT", onupdate="CASCADE"),
            nullable=False,
        ),
        sa.Column("section", sa.String(16)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("playbook", sa.Text),
        sa.Column("context", sa.Text),
        sa.Column("content", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("embedding_status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("embedded_revision", sa.Integer),
        sa.Column("embedded_model", sa.String(200)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_at", sa.Float),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("embedded_at", sa.Float),
    )
    op.create_index("ix_entries_claim", "entries", ["embedding_status", "priority", "queued_at"])
    op.create_index("ix_entries_lease", "entries", ["embedding_status", "lease_expires_at"])
    op.create_index("ix_entries_category", "entries", ["category_code", "kind"])
    op.create_index("ix_entries_claimed_by", "entries", ["claimed_by"])


def _create_vectors() -> None:
    op.create_table(
        "vectors",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "entry_id",
            sa.String(64),
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("chunk_text", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("entry_id", "chunk_index", name="uq_vectors_entry_chunk"),
    )
    op.create_table(
        "vector_changes",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("vector_id", sa.BigInteger, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS entries_fts")
    for table in ("queue_control", "vector_changes", "vectors", "entries", "categories"):
        op.drop_table(table)
