"""The shared summary shape and the interleaving every comparison relies on."""

from __future__ import annotations

import pytest

from benchmarks.display import median_range, target
from benchmarks.stats import interleave, maybe_ratios, ratios, summary


def test_summary_has_one_shape():
    assert summary([3, 1, 2]) == {"values": [3.0, 1.0, 2.0], "median": 2.0, "min": 1.0, "max": 3.0}
    with pytest.raises(ValueError):
        summary([])


def test_ratios_pair_rounds_in_order():
    assert ratios([2, 9], [1, 3])["values"] == [2.0, 3.0]
    with pytest.raises(ValueError):
        ratios([1, 2], [1])


def test_maybe_ratios_is_none_when_a_figure_was_not_logged():
    assert maybe_ratios([1.0, None], [1.0, 1.0]) is None
    assert maybe_ratios([], []) is None
    assert maybe_ratios([4.0], [2.0])["median"] == 2.0


def test_interleave_alternates_after_an_untimed_warm_up():
    calls: list[str] = []
    counter = iter(range(100))

    def variant(name: str):
        def run():
            calls.append(name)
            return next(counter)

        return run

    results = interleave({"a": variant("a"), "b": variant("b")}, repeats=2)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert results == {"a": [2, 4], "b": [3, 5]}  # the warm-up's 0 and 1 are dropped


def test_interleave_without_warm_up_keeps_every_round():
    results = interleave({"a": lambda: 1}, repeats=1, warmup=False)
    assert results == {"a": [1]}


def test_target_verdicts():
    assert target("x", 1.2, 1.15, higher_is_better=False)["met"] is False
    assert target("x", 12.0, 10.0, higher_is_better=True)["met"] is True
    assert target("x", None, 10.0, higher_is_better=True)["met"] is None


def test_median_range_shows_single_values_plainly():
    assert median_range(summary([1.0, 2.0, 4.0])) == "2.00 (1.00-4.00)"
    assert median_range(summary([1.5])) == "1.50"
    assert median_range(None) == "-"
