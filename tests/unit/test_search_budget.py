"""The keyword work budget: the commonest words go first, never all of them."""

from __future__ import annotations

from heurist.search.budget import within_budget


def test_words_within_the_budget_are_all_kept() -> None:
    counts = {"rare": 3, "common": 40}
    assert within_budget(["common", "rare"], counts, budget=100) == ["common", "rare"]


def test_the_commonest_words_go_first_and_order_is_kept() -> None:
    counts = {"a": 900, "b": 5, "c": 500, "d": 20}
    assert within_budget(["a", "b", "c", "d"], counts, budget=600) == ["b", "c", "d"]
    assert within_budget(["a", "b", "c", "d"], counts, budget=100) == ["b", "d"]


def test_one_word_always_stays() -> None:
    counts = {"x": 10_000, "y": 20_000}
    assert within_budget(["y", "x"], counts, budget=10) == ["x"]
    assert within_budget(["y"], counts, budget=10) == ["y"]
