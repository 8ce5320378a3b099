"""The curated loop's pure parts: the state filter of the vector index, the ``state=``
parameter, the duplicate ranking, and the curation columns of import files."""

from __future__ import annotations

import numpy as np
import pytest

from heurist.domain.vocabulary import EntryState, StateFilter
from heurist.index.faiss_index import VectorIndex
from heurist.index.vectors import VectorRow
from heurist.search.duplicates import collect, ranked
from heurist.search.service import states_for
from heurist.transfer.curation import parse_curation
from heurist.transfer.errors import InvalidRecord

DIM = 8


def row(vector_id: int, state: str, vector: np.ndarray) -> VectorRow:
    return VectorRow(vector_id, f"e{vector_id}", 0, "experience", "c", "useful", "m", vector, state)


def test_the_index_filters_on_state_inside_the_search() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((30, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(DIM)
    states = [EntryState.PROPOSED if i < 25 else EntryState.APPROVED for i in range(30)]
    index.upsert([row(i, s, vectors[i]) for i, s in enumerate(states)])
    # The 25 proposed vectors crowd the top: a filter after a top-k cut would find none.
    hits = index.search(vectors[0], 5, states=[EntryState.APPROVED])
    assert sorted(h.vector_id for h in hits) == [25, 26, 27, 28, 29]
    assert len(index.search(vectors[0], 50, states=[EntryState.PROPOSED])) == 25
    assert len(index.search(vectors[0], 50)) == 30
    index.upsert([row(0, EntryState.APPROVED, vectors[0])])  # approved: the filter is renewed
    assert index.search(vectors[0], 1, states=[EntryState.APPROVED])[0].vector_id == 0


def test_state_parameters_map_to_entry_states() -> None:
    assert states_for(StateFilter.APPROVED) == ("approved",)
    assert states_for(["approved", "proposed", "approved"]) == ("approved", "proposed")
    assert states_for(["proposed", StateFilter.ANY]) is None


def test_duplicates_rank_very_close_first_and_leave_the_entry_out() -> None:
    answers = {
        "keyword": [{"id": "a", "title": "Other", "score": 9.0}, {"id": "self", "score": 1.0}],
        "semantic": [
            {"id": "b", "title": "Pin torch", "score": 0.4},
            {"id": "a", "title": "Other", "score": 0.9},
        ],
    }
    out = ranked(collect(answers, exclude="self"), title="pin  TORCH", threshold=0.85, limit=5)
    assert [c["id"] for c in out] == ["a", "b"]  # both very close, then by similarity
    assert all(c["very_close"] for c in out)  # a by similarity, b by its title
    assert out[0]["matched_by"] == ["keyword", "semantic"] and out[0]["keyword_score"] == 9.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, {}),
        ({"state": ""}, {}),
        (
            {"feedback": {"helpful": 2}},
            {"state": "approved", "feedback_helpful": 2, "feedback_harmful": 0},
        ),
        (
            {"state": "retired", "superseded_by": "x", "feedback_outdated": "3"},
            {"state": "retired", "superseded_by": "x", "feedback_outdated": 3},
        ),
    ],
)
def test_curation_columns_are_read_and_completed(
    raw: dict[str, object], expected: dict[str, object]
) -> None:
    parsed = parse_curation(raw, "line 1")
    assert {k: parsed[k] for k in expected} == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"state": "gone"},
        {"feedback_helpful": 1.5},
        {"feedback_helpful": True},
        {"feedback_harmful": 2**31},
        {"superseded_by": "x"},
        {"state": "retired", "retired_reason": "x" * 2001},
        {"state": "retired", "superseded_by": "a\x00b"},
    ],
)
def test_bad_curation_columns_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(InvalidRecord):
        parse_curation(raw, "line 1")
