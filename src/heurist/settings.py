"""The one settings object. Built once (at start-up or by a test) and passed down.

Every value comes from the environment with the prefix ``HEURIST_``. Nothing else in
the package reads the environment: tests build a ``Settings`` with keyword arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from heurist.errors import ConfigError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEURIST_", extra="ignore", frozen=True)

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file heurist.db in DATA_DIR"
    )

    host: str = "127.0.0.1"
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Host names the server answers to besides loopback, its bound address and "
        "IP literals (comma-separated; '*' for any): the names of a team deployment",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    admin_token: str | None = None
    api_token: str | None = None
    api_url: str = "http://127.0.0.1:8000"
    instance_id: str | None = Field(
        default=None,
        description="stable name of this process across restarts; its held rows are released at start",
    )

    # The queue.
    num_embedding_workers: Annotated[int, Field(ge=0, le=64)] = 2
    worker_poll_interval: Annotated[float, Field(gt=0, le=3600)] = 5.0
    worker_batch_size: Annotated[int, Field(ge=1, le=1024)] = 16
    # Padded tokens per model call: a claim's chunks are sorted by length and cut by it.
    worker_batch_tokens: Annotated[int, Field(ge=1, le=1_000_000)] = 4096
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    lease_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    heartbeat_interval: Annotated[float, Field(gt=0, le=3600)] | None = None
    retry_base_seconds: Annotated[float, Field(ge=0, le=3600)] = 2.0
    retry_max_seconds: Annotated[float, Field(ge=0, le=86400)] = 300.0
    outage_backoff_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    worker_nice: Annotated[int, Field(ge=0, le=19)] = 10
    backfill_workers: Annotated[int, Field(ge=0, le=64)] | None = Field(
        default=None,
        description="workers that may embed a model change's back-fill at once "
        "(default: half the pool, at least 1; 0: all)",
    )
    queue_retry_failed_on_startup: bool = False
    import_pause_lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    import_checkpoints: bool = Field(
        default=False,
        description=(
            "fault tests only: at each step of an import's write, print 'import checkpoint: "
            "STEP' to stderr and wait for a line on stdin before going on"
        ),
    )

    # Embedding.
    embedding_provider: Literal["local", "openai", "hash"] = "local"
    embedding_runtime: Literal["torch", "onnx"] = "onnx"
    model_cache_dir: Path | None = Field(
        default=None, description="where the ONNX export is kept; default: DATA_DIR/models"
    )
    embedding_model: str = DEFAULT_MODEL
    embedding_url: str | None = None
    embedding_api_key: str | None = None
    embedding_dim: Annotated[int, Field(ge=1, le=16384)] | None = None
    embedding_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    embedding_threads: Annotated[int, Field(ge=1, le=256)] | None = None
    onnx_memory_arena: bool = Field(
        default=True,
        description="onnxruntime's CPU memory arena: fast, keeps the largest batch's buffers; "
        "off, peak RSS drops by ~30% and embedding takes ~1.6x as long (docs/benchmarks.md)",
    )

    # Search and index.
    index_sync_interval: Annotated[float, Field(gt=0, le=3600)] = 1.0
    query_cache_size: Annotated[int, Field(ge=0, le=1_000_000)] = 1024

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'heurist.db').resolve()}"

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def resolved_heartbeat_interval(self) -> float:
        return self.heartbeat_interval or max(self.lease_seconds / 3.0, 0.05)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; a bad value raises ConfigError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from exc


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        lines.append(f"HEURIST_{field.upper()}={err.get('input')!r}: {err['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)
