"""Tables, as SQLAlchemy Core metadata. The Alembic migrations create exactly these.

One ``entries`` table holds both kinds (experience, manual) so that the queue has a
single claim statement. Queue state lives on the entry row itself: the status column
is the durable queue.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# Integer primary keys that autoincrement on SQLite (INTEGER PRIMARY KEY) and PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")

categories = Table(
    "categories",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # Set while an import has staged the category and not yet published it: invisible.
    Column("import_id", String(64)),
)

entries = Table(
    "entries",
    metadata,
    # seq is the stable rowid (the keyword index is keyed on it) and the list cursor.
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column(
        "category_code",
        String(64),
        ForeignKey("categories.code", ondelete="RESTRICT", onupdate="CASCADE"),
        nullable=False,
    ),
    Column("section", String(16)),
    Column("title", Text, nullable=False),
    Column("playbook", Text),
    Column("context", Text),
    Column("content", Text),
    Column("summary", Text),
    Column("author", Text),
    Column("source", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # Queue state.
    Column("embedding_status", String(16), nullable=False, default="pending"),
    Column("priority", Integer, nullable=False, default=0),
    Column("revision", Integer, nullable=False, default=1),
    Column("content_hash", String(64), nullable=False),
    Column("embedded_revision", Integer),
    Column("embedded_model", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("claimed_by", String(200)),
    Column("claimed_at", Float),
    Column("lease_expires_at", Float),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("queued_at", Float, nullable=False),
    Column("embedded_at", Float),
    # Set while an import has staged the row and not yet published it (DESIGN §11): the
    # row is invisible to every read, search, count and queue claim until then.
    Column("import_id", String(64)),
    Index("ix_entries_claim", "embedding_status", "priority", "queued_at"),
    Index("ix_entries_lease", "embedding_status", "lease_expires_at"),
    Index("ix_entries_category", "category_code", "kind"),
    Index("ix_entries_claimed_by", "claimed_by"),
    # Only staged rows are in it: publishing or removing an import finds its rows at once.
    Index(
        "ix_entries_import",
        "import_id",
        sqlite_where=text("import_id IS NOT NULL"),
        postgresql_where=text("import_id IS NOT NULL"),
    ),
)

# One row per (entry, chunk, model): during a model change an entry holds the vectors of
# both models. The id is the FAISS id; an upsert keeps it.
vectors = Table(
    "vectors",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entry_id", String(64), ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("chunk_text", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("entry_id", "chunk_index", "model", name="uq_vectors_entry_chunk_model"),
    Index("ix_vectors_model_entry", "model", "entry_id"),
)

# Every vector ever computed, by (model, SHA-256 of the exact chunk text): a worker looks
# here before it calls a model, so the same text is never embedded twice by one model.
embedding_cache = Table(
    "embedding_cache",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

# A single row (id = 1): the model search serves (every instance follows it) and, during
# a model change, the model being back-filled. ``*_spec`` is the JSON of the settings that
# build the model's embedder (provider, model name, dimension; never a secret).
serving_model = Table(
    "serving_model",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model", String(200)),
    Column("spec", Text),
    Column("target", String(200)),
    Column("target_spec", Text),
    Column("migration_started_at", Float),
    Column("previous", String(200)),
    Column("switched_at", Float),
    Column("updated_at", Float, nullable=False),
)

# Every change to a vector row (upsert or deletion) appends here; search processes
# replay the log after the last change number they have applied (DESIGN §4).
vector_changes = Table(
    "vector_changes",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("vector_id", BigInteger, nullable=False),
    Column("entry_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("created_at", Float, nullable=False),
)

# A single row (id = 1): the pause flag, held in the database so that it holds for
# every worker of every process and survives restarts.
queue_control = Table(
    "queue_control",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("operator_paused", Boolean, nullable=False, default=False),
    Column("operator_paused_at", Float),
    Column("import_paused_until", Float),
    Column("import_paused_by", String(200)),
    Column("updated_at", Float, nullable=False),
)

# The last report of every worker thread of every process (one row per pool slot),
# so that any instance can show the whole fleet. A cache of liveness, not a lock.
workers = Table(
    "workers",
    metadata,
    Column("slot", String(200), primary_key=True),
    Column("worker_id", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("current_batch", Text, nullable=False),
    Column("processed", Integer, nullable=False),
    Column("succeeded", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("restarts", Integer, nullable=False),
    Column("last_run", Float),
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_workers_last_seen", "last_seen"),
)

# One row per import that is staging or settling rows (``heurist.transfer.staging``). Its
# lease is renewed with every batch; an import whose lease lapsed died: its staged rows are
# removed (or, once published, settled) by the next start or import.
imports = Table(
    "imports",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("lease_expires_at", Float, nullable=False),
    # Set by the publish: from then on the import's rows are visible (heurist.db.visibility).
    Column("published_at", Float),
)

# The first answer to a create sent with an ``Idempotency-Key`` header, per key and scope
# (route and caller), so that a retry replays it (``heurist.store.idempotency``).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("scope", String(300), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_idempotency_keys_expires", "expires_at"),
)
