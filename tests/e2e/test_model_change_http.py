"""A model change as operators see it: /admin/index/status, /health, /metrics and the
``heurist index status|prune-model`` commands, against a live server (SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from heurist.embedding.hashing import HashEmbedder
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.e2e.test_cli import env, heurist
from tests.support.server import LiveServer
from tests.support.wait import wait_for

OLD, NEW = HashEmbedder(32), HashEmbedder(48)
N = 12


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'heurist.db'}"


@pytest.fixture
def embedded_settings(settings_factory: Callable[..., Settings]) -> Settings:
    """A store of N entries embedded with the old model."""
    settings = settings_factory(num_embedding_workers=1)
    rt = Runtime.build(settings, embedder=OLD)
    rt.start()
    rt.categories.create("py", "Python")
    for i in range(N):
        fields = {"category": "py", "section": "useful", "title": f"t{i}", "playbook": f"p{i}"}
        rt.entries.create("experience", fields)
    wait_for(lambda: rt.queue.counts()["embedded"]["total"] == N, message="seed not embedded")
    rt.stop()
    return settings


@pytest.fixture
def serve(embedded_settings: Settings) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(workers: int) -> LiveServer:
        settings = embedded_settings.model_copy(update={"num_embedding_workers": workers})
        runtime = Runtime.build(settings, embedder=NEW, extra_embedders=[OLD])
        server = LiveServer(settings, runtime=runtime)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def metric(server: LiveServer, name: str) -> float:
    text = server.admin.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not in /metrics")


def test_a_migration_in_progress_is_reported_everywhere(serve: Callable[..., LiveServer]) -> None:
    server = serve(workers=0)  # nobody back-fills: the migration stays where it is
    admin = server.admin
    status = admin.get("/admin/index/status").json()
    assert status["serving_model"] == "hash-32"
    migration = status["migration"]
    assert (migration["from"], migration["to"]) == ("hash-32", "hash-48")
    assert (migration["done"], migration["total"]) == (0, N)
    assert status["vectors"] == {"hash-32": N}
    assert admin.get("/health").json()["model"]["id"] == "hash-32"
    assert metric(server, "heurist_model_migration_total") == N
    assert metric(server, "heurist_model_migration_done") == 0
    assert "heurist_embedding_cache_hits_total" in admin.get("/metrics").text

    environ = env(server)
    shown = heurist("index", "status", environ=environ)
    assert shown.returncode == 0, shown.stderr
    assert "serving model: hash-32" in shown.stdout
    assert f"model change hash-32 -> hash-48: 0/{N} entries" in shown.stdout
    for model in ("hash-32", "hash-48"):  # the serving model and the target
        refused = heurist("index", "prune-model", model, environ=environ)
        assert refused.returncode == 4
        assert "cannot be pruned" in refused.stderr


def test_after_the_switch_the_old_model_can_be_pruned(serve: Callable[..., LiveServer]) -> None:
    server = serve(workers=1)
    admin = server.admin
    wait_for(
        lambda: admin.get("/admin/index/status").json()["serving_model"] == "hash-48",
        timeout=60,
        message="never switched",
    )
    wait_for(lambda: admin.get("/health").json()["model"]["id"] == "hash-48", message="health")
    status = admin.get("/admin/index/status").json()
    assert status["migration"] is None and status["previous_model"] == "hash-32"
    assert status["vectors"] == {"hash-32": N, "hash-48": N}
    assert admin.get("/admin/queue/status").json()["embedding_cache"]["misses"] == N

    pruned = heurist("index", "prune-model", "hash-32", environ=env(server))
    assert pruned.returncode == 0, pruned.stderr
    assert f"pruned hash-32: {N} vectors" in pruned.stdout
    assert admin.get("/admin/index/status").json()["vectors"] == {"hash-48": N}
    found = server.client.get("/api/v1/search", params={"q": "t3 p3", "mode": "semantic"}).json()
    assert found["results"][0]["title"] == "t3"
