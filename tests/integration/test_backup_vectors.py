"""Backups that carry their vectors: export --with-vectors, then an import into a fresh store
is searchable by meaning at once, with no model call (its calls are counted)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from heurist.embedding.hashing import HashEmbedder
from heurist.errors import InvalidInput
from heurist.runtime import Runtime
from heurist.search.keyword import Filters
from heurist.settings import Settings
from heurist.transfer.errors import InvalidRecord
from heurist.transfer.service import export_file, import_plan, validate_file
from tests.conftest import make_settings
from tests.support.embedders import ScriptedEmbedder
from tests.support.server import free_port
from tests.support.wait import wait_for

LONG = "\n\n".join(f"Part {i}: " + " ".join(f"term{i}x{j}" for j in range(150)) for i in range(3))


def build(settings: Settings, embedder: ScriptedEmbedder, workers: int) -> Runtime:
    rt = Runtime.build(
        settings.model_copy(update={"num_embedding_workers": workers}),
        embedder=embedder,
        query_embedder=HashEmbedder(embedder.dim),  # queries are not counted
    )
    rt.start()
    return rt


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Runtime]:
    """A store embedded by the (counting) hash model: 10 experiences and 2 long manuals."""
    settings = make_settings(tmp_path / "src", f"sqlite:///{tmp_path / 'src.db'}")
    rt = build(settings, ScriptedEmbedder(), workers=1)
    rt.categories.create("ops", "Operations")
    for i in range(10):
        fields = {"category": "ops", "section": "useful", "title": f"tip{i}", "playbook": f"do{i}"}
        rt.entries.create("experience", fields, entry_id=f"exp-{i}")
    for i in range(2):
        fields = {"category": "ops", "title": f"manual{i}", "content": LONG + f" end{i}"}
        rt.entries.create("manual", fields, entry_id=f"man-{i}")
    wait_for(lambda: rt.queue.counts()["embedded"]["total"] == 12, message="not embedded")
    yield rt
    rt.stop()


@pytest.fixture
def fresh(settings_factory: Callable[..., Settings]) -> Iterator[tuple[Runtime, ScriptedEmbedder]]:
    """An empty store (both backends) serving the same model, with a counting embedder."""
    embedder = ScriptedEmbedder()
    rt = build(settings_factory(api_url=f"http://127.0.0.1:{free_port()}"), embedder, 0)
    yield rt, embedder
    rt.stop()


def restore(rt: Runtime, path: Path) -> int:
    plan = validate_file(rt.db, path, mode="upsert")
    return import_plan(rt.settings, rt.db, plan, mode="upsert").restored


@pytest.mark.parametrize("suffix", [".jsonl", ".zip"])
def test_a_restore_is_searchable_at_once_with_no_model_call(
    source: Runtime, fresh: tuple[Runtime, ScriptedEmbedder], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"backup{suffix}"
    export_file(source.db, path, with_vectors=True)
    rt, embedder = fresh
    assert restore(rt, path) == 12
    assert rt.queue.counts()["embedded"]["total"] == 12
    rt.index_sync.sync()
    assert rt.index.entry_count() == 12
    for i in range(10):
        found = rt.search.search(f"tip{i} do{i}", mode="semantic", filters=Filters(), limit=1)
        assert found["results"][0]["id"] == f"exp-{i}"
    query = " ".join(f"term1x{j}" for j in range(40))
    found = rt.search.search(query, mode="semantic", filters=Filters(), limit=1)
    assert found["results"][0]["id"] in {"man-0", "man-1"}
    assert restore(rt, path) == 12  # a re-import of the same file: still no call
    assert embedder.calls == []


def test_vectors_of_another_model_are_ignored(
    source: Runtime, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "backup.jsonl"
    export_file(source.db, path, with_vectors=True)
    embedder = ScriptedEmbedder(48)  # another model: hash-48
    rt = build(settings_factory(api_url=f"http://127.0.0.1:{free_port()}"), embedder, 1)
    try:
        assert restore(rt, path) == 0
        wait_for(lambda: rt.queue.counts()["embedded"]["total"] == 12, message="not embedded")
        assert embedder.calls  # queued and embedded as usual
    finally:
        rt.stop()


def edit_line(path: Path, number: int, change: Callable[[dict[str, object]], None]) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[number - 1])
    change(record)
    lines[number - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.update(dim=32), "model hash-64 has dimension 64 in this store, not 32"),
        (lambda v: v["data"].__setitem__(0, "AAAA"), "holds 0 float32 values, expected dim 64"),
        (lambda v: v["data"].__setitem__(0, "not base64!"), "is not base64"),
        (lambda v: v.update(model=7), "must be a model id"),
        (lambda v: v.update(sha256=[]), "one SHA-256 (hex) per vector"),
    ],
)
def test_a_vector_that_does_not_fit_names_its_line(
    source: Runtime,
    fresh: tuple[Runtime, ScriptedEmbedder],
    tmp_path: Path,
    change: Callable[[dict[str, object]], None],
    message: str,
) -> None:
    path = tmp_path / "backup.jsonl"
    export_file(source.db, path, with_vectors=True)
    rt, _ = fresh
    assert restore(rt, path) == 12  # the store now knows the model's dimension
    edit_line(path, 3, lambda r: change(r["vectors"][0]))  # type: ignore[index]
    with pytest.raises(InvalidRecord) as info:
        validate_file(rt.db, path, mode="upsert")
    assert info.value.where == "line 3"
    assert message in info.value.message


def test_with_vectors_refuses_csv(source: Runtime, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=re.escape("--with-vectors writes .jsonl or .zip")):
        export_file(source.db, tmp_path / "backup.csv", with_vectors=True)
