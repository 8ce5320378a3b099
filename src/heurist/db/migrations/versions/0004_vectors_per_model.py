"""Vectors per model, the serving model in the database, and the embedding cache.

A vector row becomes (entry, chunk, model), so an entry can hold the vectors of two models
during a model change. ``serving_model`` records the model search serves; an existing store
serves the model its vectors were made with (the most common one), whose embedder settings
are filled in by the first start that configures it. ``embedding_cache`` is seeded from the
existing vectors, so nothing already embedded is ever embedded again.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PAGE = 2_000


def upgrade() -> None:
    with op.batch_alter_table("vectors", recreate="auto") as batch:
        batch.drop_constraint("uq_vectors_entry_chunk", type_="unique")
        batch.create_unique_constraint(
            "uq_vectors_entry_chunk_model", ["entry_id", "chunk_index", "model"]
        )
    op.create_index("ix_vectors_model_entry", "vectors", ["model", "entry_id"])
    op.create_table(
        "embedding_cache",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "serving_model",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(200)),
        sa.Column("spec", sa.Text),
        sa.Column("target", sa.String(200)),
        sa.Column("target_spec", sa.Text),
        sa.Column("migration_started_at", sa.Float),
        sa.Column("previous", sa.String(200)),
        sa.Column("switched_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    conn = op.get_bind()
    model = conn.execute(
        sa.text("SELECT model FROM vectors GROUP BY model ORDER BY count(*) DESC LIMIT 1")
    ).scalar()
    conn.execute(
        sa.text("INSERT INTO serving_model (id, model, updated_at) VALUES (1, :model, :now)"),
        {"model": model, "now": time.time()},
    )
    _seed_cache(conn)


def _seed_cache(conn: sa.Connection) -> None:
    """Every stored vector becomes a cache entry of its model and text."""
    last = 0
    insert = sa.text(
        "INSERT INTO embedding_cache (model, text_hash, dim, vector, created_at) "
        "VALUES (:model, :text_hash, :dim, :vector, :now) ON CONFLICT DO NOTHING"
    )
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, model, dim, vector, chunk_text FROM vectors WHERE id > :last "
                "ORDER BY id LIMIT :page"
            ),
            {"last": last, "page": PAGE},
        ).all()
        if not rows:
            return
        now = time.time()
        conn.execute(
            insert,
            [
                {
                    "model": r.model,
                    "text_hash": hashlib.sha256(r.chunk_text.encode("utf-8")).hexdigest(),
                    "dim": r.dim,
                    "vector": r.vector,
                    "now": now,
                }
                for r in rows
            ],
        )
        last = int(rows[-1].id)


def downgrade() -> None:
    # Only the serving model's vectors fit the old one-set-per-(entry, chunk) key.
    op.execute(
        "DELETE FROM vectors WHERE model <> coalesce("
        "(SELECT model FROM serving_model WHERE id = 1), model)"
    )
    op.drop_table("serving_model")
    op.drop_table("embedding_cache")
    op.drop_index("ix_vectors_model_entry", "vectors")
    with op.batch_alter_table("vectors", recreate="auto") as batch:
        batch.drop_constraint("uq_vectors_entry_chunk_model", type_="unique")
        batch.create_unique_constraint("uq_vectors_entry_chunk", ["entry_id", "chunk_index"])
