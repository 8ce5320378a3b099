"""Staged imports and idempotency keys.

``import_id`` marks the categories and entries an import has written but not yet
published (invisible to every read); ``imports`` holds each staging import's lease;
``idempotency_keys`` holds the first answer to a create sent with an ``Idempotency-Key``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STAGED = sa.text("import_id IS NOT NULL")


def upgrade() -> None:
    op.add_column("categories", sa.Column("import_id", sa.String(64)))
    op.add_column("entries", sa.Column("import_id", sa.String(64)))
    op.create_index(
        "ix_entries_import", "entries", ["import_id"], sqlite_where=STAGED, postgresql_where=STAGED
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("lease_expires_at", sa.Float, nullable=False),
        sa.Column("published_at", sa.Float),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("scope", sa.String(300), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_idempotency_keys_expires", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("imports")
    op.drop_index("ix_entries_import", table_name="entries")
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy would lose the triggers.
    op.drop_column("entries", "import_id")
    op.drop_column("categories", "import_id")
