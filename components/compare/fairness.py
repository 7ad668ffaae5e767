"""The fairness audit: is the comparison like for like? Every item reads what the runs logged.

A failed item does not stop the report; it is shown in red at its top, because a difference
between the frameworks means nothing when, say, the two models had different sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from components.common.frameworks import NAMES, PYTORCH, TENSORFLOW, by_name
from components.common.input_probe import PROBE_TOLERANCE
from components.common.run_environment import HARDWARE_KEYS, TAG_PREFIX
from components.common.tracking import TAG_FINGERPRINT
from components.compare.model import AuditItem, PipelineRun

PARAMETER_COUNT_TOLERANCE = 0.05
SHARED_SETTINGS = (
    "model",
    "hidden_sizes",
    "optimizer",
    "learning_rate",
    "adam_epsilon",
    "batch_size",
    "epochs",
)
NOT_LOGGED = "not logged"
ProbeLoader = Callable[[str], dict | None]


def _by_framework(runs: list[PipelineRun], value: Callable[[PipelineRun], str]) -> dict[str, str]:
    """Each framework's distinct values, comma-joined in run order."""
    shown: dict[str, str] = {}
    for framework in NAMES:
        values = [value(run) for run in runs if run.framework == framework]
        shown[framework] = ", ".join(dict.fromkeys(values)) or "no runs"
    return shown


def _all_equal(
    name: str,
    runs: list[PipelineRun],
    value: Callable[[PipelineRun], str],
    holds: str,
    differs: str,
) -> AuditItem:
    """Passes when every run shows the same value and none lacks what it is made of."""
    distinct = {value(run) for run in runs}
    passed = len(distinct) == 1 and NOT_LOGGED not in next(iter(distinct))
    return AuditItem(name, passed, holds if passed else differs, _by_framework(runs, value))


def same_snapshot(runs: list[PipelineRun]) -> AuditItem:
    return _all_equal(
        "Same dataset snapshot",
        runs,
        lambda run: run.tags.get(TAG_FINGERPRINT, NOT_LOGGED)[:12],
        "every run trained and was judged on one snapshot (fingerprint)",
        "the runs' snapshot fingerprints differ (or were not logged)",
    )


def same_splits(runs: list[PipelineRun]) -> AuditItem:
    def rows(run: PipelineRun) -> str:
        counts = {
            "train": run.train.metrics.get("train_examples"),
            "test": run.evaluate.metrics.get("test_examples"),
        }
        return " / ".join(
            f"{split} {NOT_LOGGED if n is None else f'{n:.0f}'}" for split, n in counts.items()
        )

    return _all_equal(
        "Same splits",
        runs,
        rows,
        "every run trained on the same train rows and was judged on the same test rows",
        "the runs' train or test row counts differ (or were not logged)",
    )


def same_normalisation(runs: list[PipelineRun], load_probe: ProbeLoader) -> AuditItem:
    """Each trainer's own encoding of the same test rows (the input probe) must agree."""
    probes = {run.run_id: load_probe(run.train.run_id) for run in runs}
    missing = [run for run in runs if probes[run.run_id] is None]
    if missing or not runs:
        return AuditItem(
            "Same normalisation",
            False,
            f"{len(missing)} train run(s) logged no input probe: cannot check the feature encoding",
            _by_framework(runs, lambda r: "probe logged" if probes[r.run_id] else "no probe"),
        )
    reference = probes[runs[0].run_id]
    worst: dict[str, float] = dict.fromkeys(NAMES, 0.0)
    mismatched_rows = False
    for run in runs:
        probe = probes[run.run_id]
        if probe["ids"] != reference["ids"] or probe["names"] != reference["names"]:
            mismatched_rows = True
            continue
        gap = float(np.max(np.abs(np.asarray(probe["inputs"]) - np.asarray(reference["inputs"]))))
        worst[run.framework] = max(worst[run.framework], gap)
    largest = max(worst.values())
    passed = not mismatched_rows and largest <= PROBE_TOLERANCE
    rows = len(reference["ids"])
    if mismatched_rows:
        detail = "the probes cover different rows or input columns"
    elif reference.get("kind") == "text":
        detail = (
            f"the same {rows} test texts become the same token ids in every run"
            if passed
            else f"the same {rows} test texts become different token ids across the runs: the "
            "two tokenizers disagree"
        )
    else:
        detail = (
            f"the same {rows} test rows encode to the same model inputs in every run: largest "
            f"difference {largest:.2g} (tolerance {PROBE_TOLERANCE:g})"
        )
    return AuditItem(
        "Same normalisation",
        passed,
        detail,
        {framework: f"max |difference| {gap:.2g}" for framework, gap in worst.items()},
    )


def relative_spread(counts: list[int]) -> float:
    """(largest - smallest) / largest: how far apart parameter counts are."""
    return (max(counts) - min(counts)) / max(counts) if max(counts) else 0.0


def parameter_counts(runs: list[PipelineRun]) -> AuditItem:
    values = _by_framework(runs, lambda r: r.train.params.get("parameter_count", NOT_LOGGED))
    logged = [run.train.params.get("parameter_count") for run in runs]
    if not runs or None in logged:
        return AuditItem(
            "Parameter counts within 5%", False, "a train run logged no parameter count", values
        )
    spread = relative_spread([int(count) for count in logged])
    passed = spread <= PARAMETER_COUNT_TOLERANCE
    return AuditItem(
        "Parameter counts within 5%",
        passed,
        f"largest relative difference {spread:.1%}"
        + ("" if passed else f" > {PARAMETER_COUNT_TOLERANCE:.0%}: the models differ in size"),
        values,
    )


def same_training_settings(runs: list[PipelineRun]) -> AuditItem:
    def settings(run: PipelineRun) -> str:
        return "; ".join(f"{key}={run.train.params.get(key, '?')}" for key in SHARED_SETTINGS)

    distinct = {settings(run) for run in runs}
    differing = [
        key
        for key in SHARED_SETTINGS
        if len({run.train.params.get(key) for run in runs}) > 1
        or any(key not in run.train.params for run in runs)
    ]
    passed = len(distinct) == 1 and not differing
    return AuditItem(
        "Same architecture, optimizer, batch size and epochs",
        passed,
        "model family and parameters, hidden sizes, optimizer, learning rate, Adam epsilon, batch "
        "size and epochs agree"
        if passed
        else f"differ between runs: {', '.join(differing)}",
        _by_framework(runs, settings),
    )


def same_seeds(runs: list[PipelineRun]) -> AuditItem:
    seeds = {
        framework: sorted(run.seed for run in runs if run.framework == framework)
        for framework in NAMES
    }
    passed = seeds[TENSORFLOW.name] == seeds[PYTORCH.name] and bool(seeds[TENSORFLOW.name])
    return AuditItem(
        "Same seed set",
        passed,
        f"{len(seeds['tensorflow'])} seeds each"
        if passed
        else "the frameworks ran different seeds",
        {framework: ", ".join(map(str, values)) or "none" for framework, values in seeds.items()},
    )


def same_hardware(runs: list[PipelineRun]) -> AuditItem:
    def hardware(run: PipelineRun) -> str:
        return "; ".join(
            f"{key}={run.train.tags.get(TAG_PREFIX + key, NOT_LOGGED)}" for key in HARDWARE_KEYS
        )

    return _all_equal(
        "Same hardware",
        runs,
        hardware,
        "every run trained on the same CPU model, CPU count, memory and accelerators",
        "the runs' hardware differs (or was not logged): timings do not compare",
    )


def library_versions(runs: list[PipelineRun]) -> AuditItem:
    def versions(run: PipelineRun) -> str:
        names = ("python", *by_name(run.framework).run_packages)
        return ", ".join(f"{name} {run.train.tags.get(TAG_PREFIX + name, '?')}" for name in names)

    unrecorded = [run for run in runs if TAG_PREFIX + "python" not in run.train.tags]
    return AuditItem(
        "Library versions recorded",
        not unrecorded,
        "each run's framework and Python versions are in its train run's tags"
        if not unrecorded
        else f"{len(unrecorded)} train run(s) recorded no library versions",
        _by_framework(runs, versions),
    )


def audit(runs: list[PipelineRun], load_probe: ProbeLoader) -> tuple[AuditItem, ...]:
    return (
        same_snapshot(runs),
        same_splits(runs),
        same_normalisation(runs, load_probe),
        parameter_counts(runs),
        same_training_settings(runs),
        same_seeds(runs),
        same_hardware(runs),
        library_versions(runs),
    )
