"""The curated loop: review per category, entry state and feedback, revisions, feedback notes.

Existing entries become ``approved`` with no feedback; existing categories get no review,
so nothing changes for a store until a curator turns review on.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FEEDBACK = ("feedback_helpful", "feedback_harmful", "feedback_outdated")


def upgrade() -> None:
    # Plain ADD COLUMNs (no table copy on SQLite: the FTS triggers stay as they are).
    op.add_column(
        "categories", sa.Column("review", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "entries", sa.Column("state", sa.String(16), nullable=False, server_default="approved")
    )
    for name in FEEDBACK:
        op.add_column("entries", sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.add_column("entries", sa.Column("superseded_by", sa.String(64)))
    op.add_column("entries", sa.Column("retired_reason", sa.Text))
    op.create_index("ix_entries_state", "entries", ["state"])
    op.create_table(
        "entry_revisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "entry_id",
            sa.String(64),
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("author", sa.Text),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.UniqueConstraint("entry_id", "revision", name="uq_entry_revisions_entry_revision"),
    )
    op.create_table(
        "entry_feedback",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "entry_id",
            sa.String(64),
            sa.ForeignKey("entries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_entry_feedback_entry", "entry_feedback", ["entry_id", "at"])


def downgrade() -> None:
    op.drop_table("entry_feedback")
    op.drop_table("entry_revisions")
    op.drop_index("ix_entries_state", "entries")
    for name in ("retired_reason", "superseded_by", *reversed(FEEDBACK), "state"):
        op.drop_column("entries", name)
    op.drop_column("categories", "review")
