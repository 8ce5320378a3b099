"""The ``heurist`` command line.

Exit codes scripts can rely on: 0 success, 1 the operation did not succeed (a drain
timed out, a server error), 2 a user error (usage, settings, input), 3 the server or its
database is unreachable (or answers 503), 4 refused (unauthorized, or the queue is
paused). Every typed error ends in ``main`` as one line and its code
(``heurist.cli.failures``); a traceback means a bug.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import sys
import threading
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from heurist.cli import backup, transfer
from heurist.cli.failures import EXIT_FAILED, EXIT_USAGE, report
from heurist.client import ApiClient
from heurist.domain.vocabulary import Kind, SearchMode
from heurist.errors import ConfigError, HeuristError
from heurist.settings import Settings, load_settings

app = typer.Typer(help="heurist: shared memory for code assistants.", no_args_is_help=True)
queue_app = typer.Typer(help="See and steer the embedding queue of a running server.")
db_app = typer.Typer(help="Database schema.")
index_app = typer.Typer(help="The in-memory vector index.")
app.add_typer(queue_app, name="queue")
app.add_typer(db_app, name="db")
app.add_typer(index_app, name="index")
app.command("import")(transfer.import_command)
app.command("export")(transfer.export_command)
app.command("backup")(backup.backup_command)

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(EXIT_USAGE) from exc


def call(method: str, path: str, *, admin: bool = False, **kwargs: Any) -> Any:
    """One request to the running server; an error answer ends in ``main``."""
    client = ApiClient.from_settings(settings())
    try:
        return client.request(method, path, admin=admin, **kwargs)
    finally:
        client.close()


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default HEURIST_HOST)."),
    port: int | None = typer.Option(None, help="Port (default HEURIST_PORT)."),
) -> None:
    """Run the HTTP API with its embedding workers (SQLite in the data dir by default)."""
    import uvicorn

    from heurist.api.app import create_app
    from heurist.logs import configure

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        cfg = load_settings(**overrides)
    except ConfigError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(EXIT_USAGE) from exc
    if not _is_loopback(cfg.host) and not cfg.admin_token:
        err_console.print(
            f"[red]refusing to bind {cfg.host} without HEURIST_ADMIN_TOKEN: the admin API "
            "would be reachable from the network with a token only this machine knows. "
            "Set HEURIST_ADMIN_TOKEN (and HEURIST_API_TOKEN for the data API).[/red]"
        )
        raise typer.Exit(EXIT_USAGE)
    configure(cfg)
    uvicorn.run(
        create_app(cfg), host=cfg.host, port=cfg.port, log_config=None, timeout_graceful_shutdown=30
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def worker(
    workers: int | None = typer.Option(
        None, help="Threads (default HEURIST_NUM_EMBEDDING_WORKERS)."
    ),
    metrics_port: int | None = typer.Option(
        None, help="Serve this process's Prometheus metrics on this port (on HEURIST_HOST)."
    ),
) -> None:
    """Run embedding workers against the configured database, with no HTTP API."""
    from heurist.logs import configure
    from heurist.observability.worker_metrics import WorkerMetricsServer
    from heurist.runtime import Runtime

    cfg = settings()
    configure(cfg)
    runtime = Runtime.build(cfg, role="worker", workers=workers)
    if runtime.pool is None:
        err_console.print("[red]--workers must be at least 1[/red]")
        raise typer.Exit(EXIT_USAGE)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    exporter = (
        WorkerMetricsServer(runtime, host=cfg.host, port=metrics_port) if metrics_port else None
    )
    runtime.start(serve_search=False)
    if exporter is not None:
        exporter.start()
    err_console.print(f"worker pool of {runtime.pool.size} running as {runtime.pool.prefix}")
    stop.wait()
    runtime.stop()
    if exporter is not None:
        exporter.stop()


@app.command()
def mcp() -> None:
    """Serve MCP over stdio for an assistant, as a client of the server at HEURIST_API_URL."""
    from heurist.mcp.server import run_stdio  # lazy: only this command pays for the SDK

    run_stdio(settings())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations to the configured database."""
    from heurist.db.engine import Database
    from heurist.db.migrate import upgrade
    from heurist.private_files import private_dir

    cfg = settings()
    private_dir(cfg.data_dir)
    db = Database(cfg.resolved_database_url)
    before, after = upgrade(db)
    db.dispose()
    console.print(f"database at revision {after} (was {before or 'empty'})")


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the running server's vector index from the database."""
    result = call("POST", "/admin/index/rebuild", admin=True, timeout=600)
    console.print(f"index rebuilt: {result['vectors']} vectors")


@index_app.command("status")
def index_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """The serving model, a model change's progress and time left, vectors per model."""
    result = call("GET", "/admin/index/status", admin=True)
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(f"serving model: {result['serving_model']}")
    migration = result["migration"]
    if migration is None:
        console.print("no model change in progress")
    else:
        done, total = migration["done"], migration["total"]
        eta = migration.get("eta_seconds")
        console.print(
            f"model change {migration['from']} -> {migration['to']}: {done}/{total} entries"
            + (f", about {eta:.0f} s left" if eta is not None else "")
        )
    table = Table(title="vectors per model")
    for column in ("model", "vectors", "cached"):
        table.add_column(column)
    for model in sorted(set(result["vectors"]) | set(result["cache"])):
        label = f"{model} (serving)" if model == result["serving_model"] else model
        table.add_row(
            label, str(result["vectors"].get(model, 0)), str(result["cache"].get(model, 0))
        )
    console.print(table)


@index_app.command("prune-model")
def index_prune_model(model: str = typer.Argument(..., help="The model id to forget.")) -> None:
    """Delete a model's vectors and cached vectors (not the serving model's)."""
    result = call("POST", "/admin/index/prune-model", admin=True, json={"model": model})
    console.print(
        f"pruned {result['model']}: {result['vectors_deleted']} vectors, "
        f"{result['cache_deleted']} cached vectors"
    )


@app.command()
def search(
    query: str,
    mode: SearchMode = typer.Option(SearchMode.HYBRID, help="How to search."),
    category: str | None = typer.Option(None),
    kind: Kind | None = typer.Option(None, help="Only this kind."),
    limit: int = typer.Option(10),
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON answer."),
) -> None:
    """Search the memory of a running server."""
    params = {"q": query, "mode": mode, "limit": limit, "category": category, "kind": kind}
    result = call("GET", "/api/v1/search", params={k: v for k, v in params.items() if v})
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"{len(result['results'])} results ({result['mode']})")
    for column in ("score", "kind", "category", "title", "status", "matched by"):
        table.add_column(column)
    for r in result["results"]:
        table.add_row(
            f"{r['score']:.4f}",
            r["kind"],
            r["category"],
            r["title"],
            r["embedding_status"],
            ",".join(r["matched_by"]),
        )
    console.print(table)
    for note in result.get("notes", []):
        err_console.print(f"[yellow]{note}[/yellow]")


@queue_app.command("status")
def queue_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Queue depth by status and kind, the pause flag, and each worker."""
    result = call("GET", "/admin/queue/status", admin=True)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"queue ({_pause_label(result)})", caption=_oldest(result))
    for column in ("status", *Kind, "total"):
        table.add_column(column, justify="right")
    for status, counts in result["queue"].items():
        table.add_row(status, *(str(counts[kind]) for kind in Kind), str(counts["total"]))
    console.print(table)
    workers = Table(title="workers")
    for column in ("id", "alive", "state", "processed", "succeeded", "failed", "restarts"):
        workers.add_column(column)
    for w in result["workers"]:
        workers.add_row(
            w["id"],
            str(w["alive"]),
            w["state"],
            str(w["processed"]),
            str(w["succeeded"]),
            str(w["failed"]),
            str(w["restarts"]),
        )
    console.print(workers)


def _pause_label(status: dict[str, Any]) -> str:
    pause = status.get("pause") or {}
    if pause.get("import_paused"):
        return f"PAUSED by import {pause.get('import_paused_by')}"
    return "PAUSED" if status["paused"] else "running"


def _oldest(status: dict[str, Any]) -> str | None:
    age = status.get("oldest_pending_age_seconds")
    return None if age is None else f"oldest pending: {age:.1f}s"


@queue_app.command("pause")
def queue_pause() -> None:
    """Pause every worker of every process (held in the database)."""
    call("POST", "/admin/queue/pause", admin=True)
    console.print("queue paused")


@queue_app.command("resume")
def queue_resume() -> None:
    """Lift the operator's pause."""
    call("POST", "/admin/queue/resume", admin=True)
    console.print("queue resumed")


@queue_app.command("drain")
def queue_drain(timeout: float = typer.Option(300.0, help="Seconds to wait.")) -> None:
    """Wait until nothing is pending or processing. Exit 1 on timeout, 4 if paused."""
    result = call(
        "POST", "/admin/queue/drain", admin=True, params={"timeout": timeout}, timeout=timeout + 30
    )
    if result["status"] != "drained":
        err_console.print(f"[yellow]timeout: {result['remaining']} entries remain[/yellow]")
        raise typer.Exit(EXIT_FAILED)
    console.print("drained")


@queue_app.command("retry-failed")
def queue_retry_failed(
    kind: Kind | None = typer.Option(None, help="Only this kind."),
    ids: str | None = typer.Option(None, help="Only these entry ids, comma-separated."),
) -> None:
    """Move failed entries back to pending with fresh attempts (all, or by kind or ids)."""
    body: dict[str, Any] = {"kind": kind}
    if ids is not None:
        body["ids"] = [i.strip() for i in ids.split(",") if i.strip()]
    result = call("POST", "/admin/queue/retry-failed", admin=True, json=body)
    console.print(f"{result['moved']} entries moved back to pending")


@queue_app.command("failed")
def queue_failed(
    limit: int = typer.Option(100, help="At most this many, most recent first."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Failed entries with their error text and attempts."""
    result = call("GET", "/admin/queue/failed", admin=True, params={"limit": limit})
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(title=f"{result['count']} failed entries")
    for column in ("id", "kind", "category", "title", "attempts", "updated", "error"):
        table.add_column(column, overflow="fold")
    for row in result["failed"]:
        table.add_row(
            row["id"],
            row["kind"],
            row["category"],
            row["title"],
            str(row["attempts"]),
            row["updated_at"] or "",
            (row["last_error"] or "")[:200],
        )
    console.print(table)


@queue_app.command("requeue-stale")
def queue_requeue_stale() -> None:
    """Move processing entries whose lease expired back to pending."""
    result = call("POST", "/admin/queue/requeue-stale", admin=True)
    console.print(f"{result['moved']} entries moved back to pending")


def main() -> None:
    try:
        app()
    except (HeuristError, OSError) as exc:
        sys.exit(report(exc))


if __name__ == "__main__":
    main()
