"""Search on real SQLite and PostgreSQL: fusion, filters, chunked manuals, pending entries, cache.

The hash embedder (texts sharing words are close) drives the logic; one test marked
``model`` checks semantic relevance with the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from heurist.runtime import Runtime
from heurist.search.budget import within_budget
from heurist.search.fusion import Candidate, fuse
from heurist.search.keyword import Filters
from heurist.settings import Settings
from tests.support.embedders import ScriptedEmbedder

ALL = Filters()
MODES = ("keyword", "semantic", "hybrid")


def experience(rt: Runtime, title: str, playbook: str, category: str = "ops") -> str:
    body = {"category": category, "section": "useful", "title": title, "playbook": playbook}
    return str(rt.entries.create("experience", body)["id"])


def embed_all(rt: Runtime) -> None:
    """Wait for the queue, then bring the index up to date (as the sync loop would)."""
    assert rt.queue.drain(timeout=30)["status"] == "drained"
    rt.index_sync.sync()


def search(rt: Runtime, q: str, mode: str = "hybrid", **kw: Any) -> list[dict[str, Any]]:
    filters = Filters(**{k: kw.pop(k) for k in ("kind", "category", "section") if k in kw})
    results: list[dict[str, Any]] = rt.search.search(
        q, mode=mode, filters=filters, limit=kw.pop("limit", 10), **kw
    )["results"]
    return results


@pytest.fixture
def rt(runtime_factory: Callable[..., Runtime]) -> Runtime:
    runtime = runtime_factory(num_embedding_workers=1)
    runtime.categories.create("ops", "Operations")
    runtime.categories.create("tiny", "A small category")
    return runtime


def ranked(*ids: str, name: str, scores: list[float] | None = None) -> list[Candidate]:
    scores = scores or [1.0 / (i + 1) for i in range(len(ids))]
    return [Candidate(i, s, [name]) for i, s in zip(ids, scores, strict=True)]


@pytest.mark.parametrize("method", ["rrf", "minmax"])
def test_fusion_puts_the_entry_both_retrievers_found_first(method: str) -> None:
    # "both" is second in each list; each list's leader is missing from the other.
    lists = {
        "keyword": ranked("kw-only", "both", "x1", name="keyword", scores=[9.0, 8.5, 1.0]),
        "semantic": ranked("sem-only", "both", "x2", name="semantic", scores=[0.9, 0.85, 0.2]),
    }
    fused = fuse(lists, method)
    assert fused[0].entry_id == "both"
    assert fused[0].matched_by == ["keyword", "semantic"]
    assert {c.entry_id for c in fused} == {"kw-only", "sem-only", "both", "x1", "x2"}


def test_minmax_keeps_the_margin_that_rrf_discards() -> None:
    # A keyword leader far ahead of the pack outranks the entry second in both lists
    # under min-max fusion; RRF sees only ranks and prefers the entry found twice.
    lists = {
        "keyword": ranked("leader", "both", "x", name="keyword", scores=[30.0, 3.0, 0.0]),
        "semantic": ranked("s1", "both", "x2", name="semantic", scores=[0.9, 0.5, 0.1]),
    }
    assert fuse(lists, "rrf")[0].entry_id == "both"
    assert fuse(lists, "minmax")[0].entry_id == "leader"


def test_fusion_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse({}, "borda")


def test_hybrid_ranks_the_entry_matched_by_both_first(rt: Runtime) -> None:
    target = experience(rt, "Retry flaky network calls", "Use exponential backoff with jitter")
    experience(rt, "Backoff", "Unrelated words about gardening and tomatoes")
    experience(rt, "Gardening tips", "Water tomatoes in the morning")
    embed_all(rt)
    results = search(rt, "retry flaky network calls with backoff")
    assert results[0]["id"] == target
    assert sorted(results[0]["matched_by"]) == ["keyword", "semantic"]


@pytest.mark.parametrize("mode", MODES)
def test_a_small_category_is_never_emptied_by_a_filter(rt: Runtime, mode: str) -> None:
    # Forty near-duplicates of the query crowd every top-k; the one entry of "tiny"
    # shares a single word with it. A filter applied after a cut would lose it.
    for i in range(40):
        experience(rt, f"Deploy checklist {i}", "deploy rollback canary release checklist")
    tiny = experience(rt, "Canary birds", "Miners carried a canary", category="tiny")
    embed_all(rt)
    assert tiny not in [r["id"] for r in search(rt, "deploy rollback canary", mode, limit=5)]
    found = search(rt, "deploy rollback canary", mode, limit=5, category="tiny")
    assert [r["id"] for r in found] == [tiny]


def long_manual(rt: Runtime) -> str:
    paragraphs = [
        " ".join(["database migrations alembic schema upgrade"] * 30),
        " ".join(["kubernetes pods deployment replicas"] * 35),
        " ".join(["sourdough bread flour starter oven"] * 30),
    ]
    body = {
        "category": "ops",
        "title": "Handbook",
        "summary": "Everything we know",
        "content": "\n\n".join(paragraphs),
    }
    return str(rt.entries.create("manual", body)["id"])


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_a_chunked_manual_appears_once_with_its_best_chunk(rt: Runtime, mode: str) -> None:
    manual = long_manual(rt)
    embed_all(rt)
    assert rt.index.entry_count() == 1 and len(rt.index) >= 3  # really chunked
    results = search(rt, "sourdough starter flour", mode)
    assert [r["id"] for r in results] == [manual]
    snippet = results[0]["snippet"]
    assert snippet.startswith("sourdough bread flour")  # the chunk's own text, no title
    assert "Handbook" not in snippet and "kubernetes" not in snippet


def test_pending_entries_are_found_through_keyword(rt: Runtime) -> None:
    rt.queue.pause()  # nothing gets embedded
    entry = experience(rt, "Quarantine flaky tests", "Mark them and open an issue")
    for mode in ("hybrid", "keyword"):
        results = search(rt, "flaky quarantine", mode)
        assert [r["id"] for r in results] == [entry]
        assert results[0]["embedding_status"] == "pending"
        assert results[0]["matched_by"] == ["keyword"]
    assert search(rt, "flaky quarantine", "semantic") == []


@pytest.mark.parametrize("mode", MODES)
def test_embedding_status_is_the_entry_s_own(rt: Runtime, mode: str) -> None:
    embedded = experience(rt, "Pin the torch version", "pin torch wheels in the lock file")
    embed_all(rt)
    rt.queue.pause()
    pending = experience(rt, "Pin numpy too", "pin numpy wheels in the lock file")
    results = {r["id"]: r for r in search(rt, "pin torch numpy wheels lock", mode)}
    assert results, mode
    for entry_id, result in results.items():
        assert result["embedding_status"] == rt.entries.get(entry_id)["embedding_status"]
    assert results[embedded]["embedding_status"] == "embedded"
    if mode != "semantic":
        assert results[pending]["embedding_status"] == "pending"


def test_the_query_cache_avoids_a_second_model_call(
    runtime_factory: Callable[..., Runtime],
) -> None:
    embedder = ScriptedEmbedder()
    rt = runtime_factory(embedder=embedder, num_embedding_workers=0)
    before = len(embedder.calls)
    search(rt, "how do I retry", "semantic")
    search(rt, "  how do I retry ", "hybrid")  # same query once stripped
    assert len(embedder.calls) == before + 1
    assert rt.search.cache.hits == 1
    search(rt, "another question", "semantic")
    assert len(embedder.calls) == before + 2


def test_snippet_of_a_keyword_match_is_the_matched_passage(rt: Runtime) -> None:
    filler = " ".join(["alpha beta gamma delta"] * 40)
    body = {"category": "ops", "title": "Notes", "content": f"{filler}\n\nthe zebra crossing rule"}
    manual = rt.entries.create("manual", body)["id"]
    results = search(rt, "zebra", "keyword")
    assert results[0]["id"] == manual
    assert "zebra" in results[0]["snippet"]


@pytest.mark.model
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the model once is enough
def test_semantic_search_finds_meaning_with_the_real_model(
    settings_factory: Callable[..., Settings], db_url: str
) -> None:
    rt = Runtime.build(settings_factory(embedding_provider="local", num_embedding_workers=1))
    try:
        rt.start()
        rt.categories.create("ops", "Operations")
        retry = experience(
            rt, "Retry HTTP calls", "When a request times out, retry with exponential backoff."
        )
        experience(rt, "Bake sourdough", "Feed the starter, proof overnight, bake at 250 C.")
        experience(rt, "Name variables well", "Prefer descriptive names over abbreviations.")
        rt.query_embedder.load()
        embed_all(rt)
        results = search(rt, "what to do when the network connection is unreliable", "semantic")
        assert results[0]["id"] == retry
    finally:
        rt.stop()


# The work budget is for FTS5, which ranks every match before the cut.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_common_words_over_the_budget_do_not_hide_a_rare_one(rt: Runtime, db_url: str) -> None:
    for i in range(10):
        experience(rt, f"Common words {i}", "shared shared words everywhere")
    rare = experience(rt, "The axolotl note", "shared words and one axolotl")
    with rt.db.read() as conn:
        counts = rt.search.term_counts.get(conn, ["shared", "axolotl"])
    assert counts == {"shared": 11, "axolotl": 1}
    assert within_budget(["shared", "axolotl"], counts, budget=5) == ["axolotl"]
    assert search(rt, "shared axolotl", "keyword")[0]["id"] == rare
