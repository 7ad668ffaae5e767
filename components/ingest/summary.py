"""The counts an ingest run reconciles and publishes, merged from per-batch partial summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from components.ingest.statistics import merge_statistics

EXAMPLES_KEPT = 20

Summary = dict[str, Any]


def empty_summary() -> Summary:
    return {
        "read": 0,
        "quarantined_by_reason": {},
        "quarantine_examples": [],
        "splits": {},
        "train_statistics": {},
    }


def merge_summaries(left: Summary, right: Summary) -> Summary:
    reasons = Counter(left["quarantined_by_reason"])
    reasons.update(right["quarantined_by_reason"])
    splits = Counter(left["splits"])
    splits.update(right["splits"])
    examples = sorted(left["quarantine_examples"] + right["quarantine_examples"])
    return {
        "read": left["read"] + right["read"],
        "quarantined_by_reason": dict(reasons),
        "quarantine_examples": examples[:EXAMPLES_KEPT],
        "splits": dict(splits),
        "train_statistics": merge_statistics(left["train_statistics"], right["train_statistics"]),
    }


def summary_part(**fields: Any) -> Summary:
    """A partial summary with only `fields` set."""
    part = empty_summary()
    part.update(fields)
    return part
