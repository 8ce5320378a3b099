"""Metrics and health read from real databases; per-app registries never collide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from heurist.embedding.hashing import HashEmbedder
from heurist.observability.health import health_report
from heurist.observability.metrics import Metrics
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.conftest import make_settings
from tests.support.poison import PoisonEmbedder
from tests.support.runtimes import add, running
from tests.support.wait import wait_for

UNREACHABLE = "postgresql://postgres@127.0.0.1:9/nothing_listens_here"


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_two_registries_in_one_process_do_not_collide() -> None:
    first, second = Metrics(), Metrics()  # the global registry would raise "Duplicated"
    first.succeeded.inc(3)
    assert value(samples(first), "heurist_jobs_succeeded_total") == 3
    assert value(samples(second), "heurist_jobs_succeeded_total") == 0


def test_batches_feed_counters_histograms_and_queue_gauges(
    settings_factory: Callable[..., Settings],
) -> None:
    metrics = Metrics()
    with running(settings_factory(num_embedding_workers=1), embedder=PoisonEmbedder()) as rt:
        metrics.watch(rt)
        rt.categories.create("py", "Python")
        add(rt, title="Pin torch")
        add(rt, "manual", title="Read the docs")
        add(rt, title="A poison pill")
        assert rt.queue.drain(timeout=30)["status"] == "drained"
        rt.queue.pause()
        add(rt, title="Waits while paused")
        wait_for(lambda: len(rt.index) == 2, message="the index sync missed the new vectors")
        found = samples(metrics)
        counts = rt.queue.counts()
    assert value(found, "heurist_jobs_succeeded_total") == 2
    assert value(found, "heurist_jobs_failed_total") == 1
    assert value(found, "heurist_write_to_embedded_seconds_count") == 2
    assert value(found, "heurist_embed_batch_size_sum") == 3
    assert value(found, "heurist_embed_batch_seconds_count") >= 1
    assert value(found, "heurist_queue_paused") == 1
    assert value(found, "heurist_database_up") == 1
    assert value(found, "heurist_worker_alive", worker="w0") == 1
    assert value(found, "heurist_worker_restarts_total", worker="w0") == 0
    assert value(found, "heurist_index_vectors") == 2
    for status, by_kind in counts.items():
        for kind in ("experience", "manual"):
            assert value(found, "heurist_queue_depth", status=status, kind=kind) == by_kind[kind]
    assert counts["pending"]["experience"] == 1 and counts["failed"]["experience"] == 1


def test_health_reports_queue_index_model_and_workers(
    settings_factory: Callable[..., Settings],
) -> None:
    with running(settings_factory(num_embedding_workers=1)) as rt:
        rt.categories.create("py", "Python")
        add(rt)
        assert rt.queue.drain(timeout=30)["status"] == "drained"
        rt.queue.pause()
        add(rt, title="queued while paused")
        status, body = health_report(rt)
    assert status == 200
    assert body["database"] == {"ok": True, "dialect": rt.db.dialect}
    assert body["model"] == {"id": "hash-64", "serving": "hash-64", "loaded": True}
    assert body["index"]["size"] in (0, 1)  # the sync loop may not have applied it yet
    assert body["queue"]["paused"] is True
    assert body["queue"]["depth"] == {"pending": 1, "processing": 0, "failed": 0}
    assert body["queue"]["oldest_pending_age_seconds"] >= 0
    assert body["workers"]["configured"] == 1 and body["workers"]["alive"] == 1
    assert body["status"] == "degraded"
    assert any("paused" in reason for reason in body["reasons"])


def test_unreachable_database_is_503_for_health_and_down_for_metrics(tmp_path: Path) -> None:
    # Nothing listens on port 9: every connection is refused, as when the server is down.
    rt = Runtime.build(make_settings(tmp_path, UNREACHABLE), embedder=HashEmbedder())
    metrics = Metrics()
    metrics.watch(rt)
    try:
        status, body = health_report(rt)
        found = samples(metrics)
    finally:
        rt.db.dispose()
    assert status == 503
    assert body["database"]["ok"] is False
    assert body["reasons"][0] == "database unreachable: cannot reach the database server"
    assert value(found, "heurist_database_up") == 0
    assert not any(name == "heurist_queue_depth" for name, _ in found)
