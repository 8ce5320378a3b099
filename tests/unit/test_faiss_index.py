"""VectorIndex: upserts, replacements, removals, filters inside the search, per-entry dedup."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from heurist.index.faiss_index import Hit, VectorIndex
from heurist.index.vectors import VectorRow

DIM = 16


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def random_unit(rng: np.random.Generator) -> np.ndarray:
    return unit(rng.standard_normal(DIM))


def near(base: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A unit vector close to `base`: the smaller the noise, the higher the score."""
    return unit(base + noise * rng.standard_normal(DIM))


def item(
    vector_id: int,
    vector: np.ndarray,
    *,
    entry_id: str | None = None,
    chunk_index: int = 0,
    kind: str = "experience",
    category: str = "general",
    section: str | None = "useful",
) -> VectorRow:
    return VectorRow(
        vector_id=vector_id,
        entry_id=entry_id or f"e{vector_id}",
        chunk_index=chunk_index,
        kind=kind,
        category=category,
        section=section,
        model="test-model",
        vector=vector,
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def index() -> VectorIndex:
    return VectorIndex(DIM)


def test_upsert_then_search_finds_the_nearest(index: VectorIndex, rng: np.random.Generator) -> None:
    vectors = [random_unit(rng) for _ in range(50)]
    index.upsert([item(i + 1, v) for i, v in enumerate(vectors)])

    hits = index.search(vectors[7], 3)

    assert len(index) == 50 and index.entry_count() == 50
    assert hits[0] == Hit(entry_id="e8", vector_id=8, chunk_index=0, score=hits[0].score)
    assert hits[0].score == pytest.approx(1.0)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_upsert_replaces_an_existing_vector_id(
    index: VectorIndex, rng: np.random.Generator
) -> None:
    old, new = random_unit(rng), random_unit(rng)
    index.upsert([item(1, old), item(2, random_unit(rng))])

    index.upsert([item(1, new, chunk_index=3)])

    assert len(index) == 2 and index.entry_count() == 2
    best = index.search(new, 1)[0]
    assert (best.vector_id, best.chunk_index) == (1, 3)
    assert best.score == pytest.approx(1.0)
    assert all(h.score < 0.999 for h in index.search(old, 2) if h.vector_id == 1)


def test_last_item_wins_within_one_batch(index: VectorIndex, rng: np.random.Generator) -> None:
    first, second = random_unit(rng), random_unit(rng)
    index.upsert([item(1, first), item(1, second, category="later")])

    assert len(index) == 1
    assert index.search(second, 1, categories=["later"])[0].score == pytest.approx(1.0)


def test_remove_ignores_unknown_ids(index: VectorIndex, rng: np.random.Generator) -> None:
    vectors = [random_unit(rng) for _ in range(5)]
    index.upsert([item(i + 1, v) for i, v in enumerate(vectors)])

    index.remove([2, 4, 999])

    assert len(index) == 3 and index.entry_count() == 3
    assert not index.contains(2) and index.contains(3)
    assert {h.vector_id for h in index.search(vectors[1], 10)} == {1, 3, 5}


def test_clear_empties_the_index(index: VectorIndex, rng: np.random.Generator) -> None:
    index.upsert([item(1, random_unit(rng))])
    index.clear()
    assert len(index) == 0 and index.entry_count() == 0
    assert index.search(random_unit(rng), 5) == []


def test_slots_are_reused_after_removal(index: VectorIndex, rng: np.random.Generator) -> None:
    vectors = {i: random_unit(rng) for i in range(1, 101)}
    index.upsert([item(i, v, category="a" if i % 2 else "b") for i, v in vectors.items()])
    index.remove(range(1, 51))
    index.upsert([item(i + 1000, random_unit(rng), category="c") for i in range(50)])

    assert len(index) == 100
    assert len(index.search(vectors[60], 100, categories=["a"])) == 25
    assert len(index.search(vectors[60], 100, categories=["c"])) == 50


def test_small_category_is_not_crowded_out_by_a_big_one(
    index: VectorIndex, rng: np.random.Generator
) -> None:
    query = random_unit(rng)
    big = [item(i, near(query, rng, 0.01), category="big") for i in range(1, 1001)]
    small = [item(5000 + i, near(query, rng, 1.0), category="small") for i in range(3)]
    index.upsert(big + small)

    hits = index.search(query, 10, categories=["small"])

    assert {h.vector_id for h in hits} == {5000, 5001, 5002}


def test_filters_by_kind_and_section(index: VectorIndex, rng: np.random.Generator) -> None:
    query = random_unit(rng)
    index.upsert(
        [item(i, near(query, rng, 0.01), section="useful") for i in range(1, 201)]
        + [item(300, near(query, rng, 1.0), section="harmful")]
        + [item(400, near(query, rng, 1.0), kind="manual", section=None)]
    )

    assert [h.vector_id for h in index.search(query, 5, sections=["harmful"])] == [300]
    assert [h.vector_id for h in index.search(query, 5, kinds=["manual"])] == [400]
    assert [h.vector_id for h in index.search(query, 5, sections=[None])] == [400]
    assert index.search(query, 5, kinds=["manual"], sections=["useful"]) == []
    assert index.search(query, 5, categories=["unknown"]) == []
    assert index.search(query, 5, categories=[]) == []


def test_filter_cache_sees_later_changes(index: VectorIndex, rng: np.random.Generator) -> None:
    query = random_unit(rng)
    index.upsert([item(1, query, category="x")])
    assert len(index.search(query, 5, categories=["x"])) == 1

    index.upsert([item(2, near(query, rng, 0.1), category="x")])
    assert len(index.search(query, 5, categories=["x"])) == 2
    index.remove([1])
    assert [h.vector_id for h in index.search(query, 5, categories=["x"])] == [2]


def test_one_hit_per_entry_with_its_best_chunk(
    index: VectorIndex, rng: np.random.Generator
) -> None:
    query = random_unit(rng)
    noises = [0.5, 0.3, 0.01, 0.4, 0.6]  # chunk 2 is the closest
    chunks = [
        item(10 + n, near(query, rng, noise), entry_id="manual-1", chunk_index=n, kind="manual")
        for n, noise in enumerate(noises)
    ]
    others = [item(100 + i, near(query, rng, 2.0)) for i in range(20)]
    index.upsert(chunks + others)

    hits = index.search(query, 5)

    assert len(hits) == 5
    manual_hits = [h for h in hits if h.entry_id == "manual-1"]
    assert len(manual_hits) == 1
    assert (manual_hits[0].chunk_index, manual_hits[0].vector_id) == (2, 12)
    assert len({h.entry_id for h in hits}) == 5
    assert index.entry_count() == 21


def test_search_widens_when_entries_have_many_chunks(
    index: VectorIndex, rng: np.random.Generator
) -> None:
    query = random_unit(rng)
    items = [
        item(e * 100 + c, near(query, rng, 0.05), entry_id=f"m{e}", chunk_index=c)
        for e in range(30)
        for c in range(100)
    ]
    index.upsert(items)

    hits = index.search(query, 25)

    assert len(hits) == 25
    assert len({h.entry_id for h in hits}) == 25
    assert len(index.search(query, 100)) == 30  # exhausted: fewer entries than the limit


def test_dimension_is_validated(index: VectorIndex, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="dimension is 16"):
        index.upsert([item(1, np.ones(DIM + 1, dtype=np.float32))])
    with pytest.raises(ValueError, match="dimension is 16"):
        index.search(np.ones(8, dtype=np.float32), 5)
    with pytest.raises(ValueError, match="non-negative"):
        index.upsert([item(-1, random_unit(rng))])
    with pytest.raises(ValueError, match="NaN"):
        index.upsert([item(1, np.full(DIM, np.nan, dtype=np.float32))])
    assert len(index) == 0
    index.upsert([item(1, random_unit(rng))])
    assert len(index.search(random_unit(rng).reshape(1, DIM), 5)) == 1


def test_concurrent_upserts_and_searches(index: VectorIndex) -> None:
    errors: list[BaseException] = []
    writers, per_writer, batch = 4, 200, 20

    def write(writer: int) -> None:
        rng = np.random.default_rng(writer)
        try:
            for start in range(0, per_writer, batch):
                ids = range(writer * 10_000 + start, writer * 10_000 + start + batch)
                index.upsert([item(i, random_unit(rng), category=f"c{writer}") for i in ids])
                index.upsert([item(ids[0], random_unit(rng), category=f"c{writer}")])
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    def read(reader: int) -> None:
        rng = np.random.default_rng(100 + reader)
        try:
            for n in range(100):
                index.search(random_unit(rng), 10, categories=[f"c{n % writers}"])
                index.search(random_unit(rng), 10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=read, args=(r,)) for r in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(index) == writers * per_writer
    assert index.entry_count() == writers * per_writer


def test_filters_work_with_large_ids(index: VectorIndex, rng: np.random.Generator) -> None:
    """Ids beyond the bitmap range fall back to a hash-set selector."""
    query = random_unit(rng)
    ids = [5, 3, 2**40, 2**40 + 1]
    index.upsert([item(i, near(query, rng, 0.1), category="odd" if i % 2 else "even") for i in ids])

    assert {h.vector_id for h in index.search(query, 10, categories=["odd"])} == {5, 3, 2**40 + 1}
    assert {h.vector_id for h in index.search(query, 10, categories=["even"])} == {2**40}
