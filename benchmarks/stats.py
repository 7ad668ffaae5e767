"""The one shape every measured figure takes in the JSON, and the interleaving that makes ratios
worth quoting on this machine.

On 2 shared vCPUs one process can run ~30% slower than the next, so a comparison is only quoted
as a ratio of variants run in the same process, alternating (A B A B ...) after an untimed
warm-up round, as the median of the per-round ratios with their min-max.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")


def summary(values: Sequence[float]) -> dict:
    """{values, median, min, max} of measured values (at least one)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("a summary needs at least one value")
    return {
        "values": values,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> dict:
    """The summary of per-round ratios numerator / denominator (rounds paired in order)."""
    return summary([n / d for n, d in zip(numerators, denominators, strict=True)])


def maybe_ratios(numerators: Sequence[float | None], denominators: Sequence[float]) -> dict | None:
    """`ratios` when every numerator was measured, else None (a figure a step did not log)."""
    if not numerators or any(n is None for n in numerators):
        return None
    return ratios(numerators, denominators)


def interleave(
    variants: Mapping[str, Callable[[], T]],
    repeats: int,
    warmup: bool = True,
    on_start: Callable[[str, str], None] = lambda round_label, variant: None,
) -> dict[str, list[T]]:
    """Run every variant once per round, in order, for an optional untimed warm-up round then
    `repeats` timed rounds; return each variant's results from the timed rounds.

    on_start(round label, variant) is called before each run (progress display).
    """
    results: dict[str, list[T]] = {name: [] for name in variants}
    for round_ in range(0 if warmup else 1, repeats + 1):
        label = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
        for name, run in variants.items():
            on_start(label, name)
            result = run()
            if round_ > 0:
                results[name].append(result)
    return results
