"""plan_batches: every chunk once, longest first, each model call padded within the budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from heurist.queue.batching import MAX_TEXTS, plan_batches


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=300), max_size=400),
    budget=st.integers(min_value=1, max_value=8192),
)
def test_every_text_once_longest_first_within_budget(lengths: list[int], budget: int) -> None:
    plans = plan_batches(lengths, budget)
    flat = [i for plan in plans for i in plan]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for plan in plans:
        assert plan and len(plan) <= MAX_TEXTS
        assert len(plan) == 1 or len(plan) * lengths[plan[0]] <= budget
        assert all(2 * lengths[i] >= lengths[plan[0]] for i in plan)  # padding at most 2x


def test_short_texts_travel_many_to_a_call_long_ones_few() -> None:
    lengths = [256] * 8 + [40] * 60
    plans = plan_batches(lengths, 4096)
    assert [len(p) for p in plans] == [8, 60]  # the tails do not pad to 256
    assert plan_batches([256] * 40, 4096) == [list(range(16)), list(range(16, 32)),
                                              list(range(32, 40))]  # fmt: skip
