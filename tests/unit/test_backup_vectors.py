"""The vectors a backup carries, as read from a file: any input either fits, is ignored
(another model's), or is a validation error naming its line; never another exception."""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heurist.transfer.errors import InvalidRecord
from heurist.transfer.vectors import collect

MODEL = "hash-8"
HASH = "a" * 64


def encoded(values: list[float]) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


def good(dim: int = 8, chunks: int = 2) -> dict[str, Any]:
    return {
        "model": MODEL,
        "dim": dim,
        "sha256": [HASH] * chunks,
        "data": [encoded([1.0] + [0.0] * (dim - 1))] * chunks,
    }


def test_a_fitting_set_is_read_normalized_and_others_ignored() -> None:
    other = good() | {"model": "another-model", "dim": 3, "data": ["x"]}
    (item,) = collect([("line 2", {"id": "e1", "vectors": [other, good()]})], model=MODEL, dim=8)
    assert item.entry_id == "e1" and item.where == "line 2" and item.matrix.shape == (2, 8)
    assert np.allclose(np.linalg.norm(item.matrix, axis=1), 1.0)
    assert collect([("line 2", {"id": "e1", "vectors": [other]})], model=MODEL, dim=8) == []


def test_the_first_set_fixes_an_unknown_dimension() -> None:
    items = [
        ("line 1", {"id": "a", "vectors": [good(8)]}),
        ("line 2", {"id": "b", "vectors": [good(4)]}),
    ]
    with pytest.raises(
        InvalidRecord, match=re.escape("line 2: vectors[0].dim: model hash-8 has dimension 8")
    ):
        collect(items, model=MODEL, dim=None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
vector_sets = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from([MODEL, "other"]) | json_values,
        "dim": st.integers(-2, 10) | json_values,
        "sha256": st.lists(st.sampled_from([HASH, "short"]), max_size=3) | json_values,
        "data": st.lists(
            st.sampled_from(
                [
                    encoded([1.0] * 8),
                    encoded([0.0] * 8),
                    encoded([np.nan] * 8),
                    encoded([1.0] * 4),
                    "%%%",
                    "",
                ]
            ),
            max_size=3,
        )
        | json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(st.lists(vector_sets, max_size=3) | json_values, st.sampled_from([None, 8]))
def test_any_input_fits_is_ignored_or_names_its_line(sets: Any, dim: int | None) -> None:
    try:
        found = collect([("line 7", {"id": "e1", "vectors": sets})], model=MODEL, dim=dim)
    except InvalidRecord as exc:
        assert exc.where == "line 7"
        return
    for item in found:
        assert item.matrix.dtype == np.float32 and np.isfinite(item.matrix).all()
        assert len(item.hashes) == len(item.matrix)
