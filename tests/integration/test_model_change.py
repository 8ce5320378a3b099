"""A change of embedding model with no gap in semantic search (issue 15).

A store embedded with one model is started with another: search keeps serving the old one
while the queue back-fills the new one, every entry stays findable by meaning the whole
time, and the switch happens once, in every instance. Hash embedders of different
dimensions stand for the two models (fast); one test uses the real local model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from heurist.embedding.base import Embedder
from heurist.embedding.hashing import HashEmbedder
from heurist.queue import sql
from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.support.embedders import ScriptedEmbedder
from tests.support.wait import wait_for

ENTRIES = 240
MANUALS = 20


def text(i: int) -> str:
    return f"note{i} about topic{i} and gadget{i * 7} with detail{i * 13}"


def seed(rt: Runtime, n: int = ENTRIES) -> dict[str, str]:
    """Entries (some manuals) by id -> the text a query finds them with."""
    rt.categories.create("ops", "Operations")
    out: dict[str, str] = {}
    for i in range(n):
        if i < MANUALS:
            fields = {"category": "ops", "title": f"manual{i}", "content": text(i)}
            entry = rt.entries.create("manual", fields)
        else:
            fields = {"category": "ops", "section": "useful", "title": text(i), "playbook": "x"}
            entry = rt.entries.create("experience", fields)
        out[entry["id"]] = text(i)
    return out


def all_embedded(rt: Runtime) -> bool:
    counts = rt.queue.counts()
    return counts["pending"]["total"] + counts["processing"]["total"] == 0


def serving(rt: Runtime) -> sql.ServingRow:
    with rt.db.read() as conn:
        return sql.read_serving(conn)


class Searcher:
    """Searches by meaning without a pause, one entry after another, and records every
    entry that was not found (and in which model's index)."""

    def __init__(self, runtimes: list[Runtime], entries: dict[str, str]) -> None:
        self.runtimes = runtimes
        self.entries = dict(entries)
        self.misses: list[tuple[str, str]] = []
        self.searches = 0
        self.models_seen: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, entry_id: str, query: str) -> None:
        with self._lock:
            self.entries[entry_id] = query

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                items = list(self.entries.items())
            for entry_id, query in items:
                for rt in self.runtimes:
                    self.check(rt, entry_id, query)
                if self._stop.is_set():
                    return

    def check(self, rt: Runtime, entry_id: str, query: str) -> None:
        model = rt.serving.current.model
        found = rt.search.search(query, mode="semantic", filters=_no_filters(), limit=5)
        self.searches += 1
        self.models_seen.add(model)
        if entry_id not in {r["id"] for r in found["results"]}:
            self.misses.append((entry_id, model))

    @contextmanager
    def running(self) -> Iterator[Searcher]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=60)


def _no_filters() -> Any:
    from heurist.search.keyword import Filters

    return Filters()


def embedded_store(
    runtime_factory: Callable[..., Runtime], old: Embedder, **overrides: Any
) -> tuple[Runtime, dict[str, str]]:
    rt = runtime_factory(embedder=old, num_embedding_workers=2, **overrides)
    entries = seed(rt)
    wait_for(lambda: all_embedded(rt), timeout=120, message="the seed was never embedded")
    wait_for(lambda: rt.index.entry_count() == len(entries), message="index behind")
    return rt, entries


def start_with(
    settings: Settings, new: Embedder, old: Embedder, *, workers: int = 2, **build: Any
) -> Runtime:
    rt = Runtime.build(
        settings.model_copy(update={"num_embedding_workers": workers}),
        embedder=new,
        extra_embedders=[old],
        **build,
    )
    rt.start()
    return rt


def test_migration_keeps_every_entry_findable_and_switches_once(
    runtime_factory: Callable[..., Runtime],
) -> None:
    old, new = ScriptedEmbedder(32), ScriptedEmbedder(48, delay=0.01)
    first, entries = embedded_store(runtime_factory, old)
    settings = first.settings
    first.stop()
    old.calls.clear()

    rt = start_with(settings, new, old)
    try:
        assert serving(rt).model == "hash-32" and serving(rt).target == "hash-48"
        assert rt.serving.current.model == "hash-32"  # keeps serving the old model
        searcher = Searcher([rt], entries)
        with searcher.running():
            # A write during the migration is found on whichever model serves.
            fresh = rt.entries.create(
                "experience",
                {"category": "ops", "section": "useful", "title": "fresh words", "playbook": "y"},
            )["id"]
            wait_for(lambda: all_embedded(rt), message="the new write was never embedded")
            searcher.add(fresh, "fresh words y")
            wait_for(
                lambda: rt.serving.current.model == "hash-48",
                timeout=120,
                message=lambda: f"never switched: {rt.migration.status()}",
            )
            done = searcher.searches
            wait_for(lambda: searcher.searches > done + 50, message="searches stopped")
        assert searcher.misses == []
        assert searcher.models_seen == {"hash-32", "hash-48"}
        assert rt.migration.switched == 1 and rt.serving.switches == 1
        row = serving(rt)
        assert (row.model, row.previous, row.target) == ("hash-48", "hash-32", None)
        # The old model embedded only the new write (and queries); the new one each text once.
        queries = {*entries.values(), "fresh words y", "warm up"}
        assert [t for t in old.texts_embedded() if t not in queries] == ["fresh words\ny"]
        embedded = [t for t in new.texts_embedded() if t not in queries]
        assert len(embedded) == len(set(embedded)) == ENTRIES + 1
        assert rt.migration.status()["migration"] is None
    finally:
        rt.stop()


def test_switching_back_before_pruning_is_instant(
    runtime_factory: Callable[..., Runtime],
) -> None:
    old, new = ScriptedEmbedder(32), ScriptedEmbedder(48)
    first, entries = embedded_store(runtime_factory, old)
    settings = first.settings
    first.stop()
    rt = start_with(settings, new, old)
    wait_for(lambda: rt.serving.current.model == "hash-48", timeout=120, message="no switch")
    rt.stop()
    old.calls.clear()
    new.calls.clear()

    back = start_with(settings, old, new)
    try:
        wait_for(lambda: back.serving.current.model == "hash-32", message="no switch back")
        assert back.index.entry_count() == len(entries)
        # No model call but the warm-up of the query embedder.
        assert [c for c in old.calls + new.calls if c != ["warm up"]] == []
    finally:
        back.stop()


def test_a_crash_mid_migration_resumes(runtime_factory: Callable[..., Runtime]) -> None:
    old, new = ScriptedEmbedder(32), ScriptedEmbedder(48)
    first, entries = embedded_store(runtime_factory, old, instance_id="api")
    settings = first.settings
    first.stop()
    # A life that dies in the middle: its workers hang in the model call holding rows.
    new.gate = threading.Event()
    dead = start_with(settings, new, old)
    dead.sync_loop.stop()
    wait_for(lambda: new.entered.is_set(), message="the new model was never called")
    assert serving(dead).target == "hash-48"
    survivor_model = ScriptedEmbedder(48)
    rt = start_with(settings, survivor_model, old)  # same instance: orphans released at once
    try:
        wait_for(lambda: rt.serving.current.model == "hash-48", timeout=120, message="stuck")
        assert rt.index.entry_count() == len(entries)
        assert rt.migration.switched == 1
    finally:
        new.gate.set()
        rt.stop()
        dead.pool and dead.pool.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_worker_process_with_the_old_model_follows_and_cancels_nothing(
    runtime_factory: Callable[..., Runtime], db_url: str
) -> None:
    old, new = HashEmbedder(32), HashEmbedder(48)
    first = runtime_factory(embedder=old, num_embedding_workers=1)
    seed(first, n=5)
    wait_for(lambda: all_embedded(first), message="seed never embedded")
    settings = first.settings
    first.stop()
    server = start_with(settings, new, old, workers=0)  # the server decides: migrate
    worker = Runtime.build(settings, embedder=old, extra_embedders=[new], role="worker")
    worker.start(serve_search=False)  # an old configuration: it must not cancel
    try:
        assert serving(server).target == "hash-48"
        wait_for(lambda: server.serving.current.model == "hash-48", message="never switched")
    finally:
        worker.stop()
        server.stop()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_instances_on_postgresql_both_switch_once(
    runtime_factory: Callable[..., Runtime], db_url: str
) -> None:
    old, new = ScriptedEmbedder(32), ScriptedEmbedder(48, delay=0.01)
    first, entries = embedded_store(runtime_factory, old)
    settings = first.settings
    first.stop()
    a = start_with(settings.model_copy(update={"instance_id": "a"}), new, old)
    b = start_with(settings.model_copy(update={"instance_id": "b"}), new, old)
    try:
        searcher = Searcher([a, b], entries)
        with searcher.running():
            for rt in (a, b):
                wait_for(
                    lambda rt=rt: rt.serving.current.model == "hash-48",  # type: ignore[misc]
                    timeout=120,
                    message=lambda: f"an instance never switched: {a.migration.status()}",
                )
        assert searcher.misses == []
        assert a.migration.switched + b.migration.switched == 1
        assert a.serving.switches == b.serving.switches == 1
    finally:
        a.stop()
        b.stop()


@pytest.mark.model
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_migration_from_the_hash_embedder_to_the_real_model(
    runtime_factory: Callable[..., Runtime], db_url: str
) -> None:
    old = HashEmbedder(32)
    first = runtime_factory(embedder=old, num_embedding_workers=1)
    first.categories.create("ops", "Operations")
    retry = first.entries.create(
        "experience",
        {
            "category": "ops",
            "section": "useful",
            "title": "Retry HTTP calls",
            "playbook": "When a request times out, retry with exponential backoff.",
        },
    )["id"]
    first.entries.create(
        "experience",
        {"category": "ops", "section": "useful", "title": "Bake bread", "playbook": "Proof it."},
    )
    wait_for(lambda: all_embedded(first), message="seed never embedded")
    settings = first.settings.model_copy(update={"embedding_provider": "local"})
    first.stop()
    rt = Runtime.build(
        settings.model_copy(update={"num_embedding_workers": 1}), extra_embedders=[old]
    )
    rt.start()
    try:
        assert rt.serving.current.model == "hash-32"
        wait_for(
            lambda: rt.serving.current.model == rt.embedder.model_id,
            timeout=300,
            message=lambda: f"never switched: {rt.migration.status()}",
        )
        found = rt.search.search(
            "what to do when the network is unreliable",
            mode="semantic",
            filters=_no_filters(),
            limit=2,
        )
        assert found["results"][0]["id"] == retry
    finally:
        rt.stop()


def test_a_store_from_before_vectors_per_model_upgrades_in_place(
    db_url: str, runtime_factory: Callable[..., Runtime]
) -> None:
    """A store at 0002 (one vector set per entry) keeps its vectors: after the upgrade it
    serves the model they were made with, and a start with that model calls it for nothing."""
    from alembic import command
    from sqlalchemy import text as sql_text

    from heurist.db.engine import Database
    from heurist.db.migrate import _config, upgrade

    embedder = ScriptedEmbedder(32)
    first = runtime_factory(embedder=embedder, num_embedding_workers=1)
    ids = seed(first, n=6)
    wait_for(lambda: all_embedded(first), message="seed never embedded")
    first.stop()
    db = Database(db_url)
    config = _config()
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
        conn.commit()
    with db.read() as conn:
        assert "serving_model" not in {
            r[0]
            for r in conn.execute(
                sql_text("SELECT name FROM sqlite_master WHERE type = 'table'")
                if db.dialect == "sqlite"
                else sql_text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        }
    upgrade(db)
    db.dispose()
    embedder.calls.clear()

    rt = runtime_factory(embedder=embedder, num_embedding_workers=1)
    assert serving(rt).model == "hash-32" and serving(rt).spec is not None
    assert rt.index.entry_count() == len(ids)
    assert [c for c in embedder.calls if c != ["warm up"]] == []
