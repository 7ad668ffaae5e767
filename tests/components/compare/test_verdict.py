"""The verdict: plain sentences in a fixed order, the audit first when it failed, each figure with
its interval, a tie stated with the difference the run could have detected."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from components.common.frameworks import NAMES
from components.compare.report import metric_comparisons
from components.compare.row_predictions import CLASSIFICATION, REGRESSION, RowPredictions
from components.compare.verdict import SEEDS_OUTWEIGH_ROWS, verdict_lines
from components.evaluate.metrics import classification_metrics, regression_metrics
from tests.components.compare.fixtures import make_comparison

ROWS = 400


def _judged(outputs: dict[str, np.ndarray], labels: np.ndarray, task: str, seeds=(0, 1, 2)):
    """The fixture's comparison re-judged on these predictions: each run's quality metrics are
    what the evaluator computes from its seed's outputs."""
    base = make_comparison(seeds=seeds)
    metrics_of = regression_metrics if task == REGRESSION else classification_metrics
    quality = ("rmse", "mae", "r2", "accuracy", "macro_f1", "log_loss", "ece")
    runs = []
    for run in base.runs:
        index = sorted(seeds).index(run.seed)
        kept = {k: v for k, v in run.evaluate.metrics.items() if k not in quality}
        evaluate = {**kept, **metrics_of(labels, outputs[run.framework][index])}
        runs.append(
            dataclasses.replace(run, evaluate=dataclasses.replace(run.evaluate, metrics=evaluate))
        )
    classes = None if task == REGRESSION else ("a", "b", "c")
    rows = RowPredictions(task, classes, labels, outputs)
    comparison = dataclasses.replace(
        base, runs=tuple(runs), metrics=metric_comparisons(runs, rows), test_rows=ROWS
    )
    return comparison, verdict_lines(comparison)


def _classifier(labels: np.ndarray, right_share: float, seeds: int, rng) -> np.ndarray:
    outputs = np.full((seeds, ROWS, 3), 0.1)
    for seed in range(seeds):
        chosen = np.where(rng.random(ROWS) < right_share, labels, (labels + 1) % 3)
        outputs[seed, np.arange(ROWS), chosen] = 0.8
    return outputs


def _line(lines, topic: str) -> str:
    (text,) = [line.text for line in lines if line.topic == topic]
    return text


def test_sentences_come_in_order_with_cost_ratios_and_their_winners():
    lines = make_comparison().verdict
    assert [line.topic for line in lines] == [
        "quality",
        "training",
        "serving",
        "pipeline",
        "caveats",
    ]
    serving = _line(lines, "serving")
    assert serving.startswith("Serving (PyTorch ÷ TensorFlow): batch 1 p50 latency 0.2")
    assert "(PyTorch 4.4× faster)" in serving
    caveats = _line(lines, "caveats")
    assert "measured on CPU only" not in caveats  # the fixture's runs name no hardware
    assert caveats.endswith("detect a difference in Accuracy (test) smaller than 0.0698.")
    assert "3 TensorFlow and 3 PyTorch seeds on 120 test rows cannot reliably detect" in caveats


def test_a_failed_audit_is_the_first_sentence_naming_the_check():
    first = make_comparison(failed_audit=True).verdict[0]
    assert first.topic == "audit"
    assert first.text.startswith("Unfair comparison: the fairness audit failed — Same architecture")
    assert "parameter counts 4739 and 5379" in first.text


def test_identical_frameworks_tie_and_say_what_the_run_could_detect():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, ROWS)
    same = _classifier(labels, 0.8, 3, rng)
    comparison, lines = _judged(dict.fromkeys(NAMES, same), labels, CLASSIFICATION)
    accuracy = comparison.metrics[0]
    assert (accuracy.difference, accuracy.p_value, accuracy.better) == (0.0, 1.0, None)
    quality = _line(lines, "quality")
    assert quality.startswith("Quality: a tie on Accuracy (test) — PyTorch − TensorFlow +0 [")
    assert "], Holm p = 1; this run could" in quality
    assert f"could detect a difference of {accuracy.detectable:.3g} or more" in quality
    assert 0.02 < accuracy.detectable < 0.2
    assert quality.endswith("No other quality metric differs significantly.")


def test_a_planted_difference_is_detected_with_its_size():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, ROWS)
    outputs = {
        "tensorflow": _classifier(labels, 0.70, 3, rng),
        "pytorch": _classifier(labels, 0.95, 3, rng),
    }
    comparison, lines = _judged(outputs, labels, CLASSIFICATION)
    accuracy = comparison.metrics[0]
    low, high = accuracy.difference_ci
    assert 0 < low < accuracy.difference < high
    assert _line(lines, "quality").startswith(
        f"Quality: PyTorch is better on Accuracy (test) by {accuracy.difference:.3g} "
        f"(PyTorch − TensorFlow +{accuracy.difference:.3g} [+{low:.3g}, +{high:.3g}], Holm p = "
    )


def test_regression_is_judged_on_rmse_where_lower_is_better():
    rng = np.random.default_rng(2)
    labels = rng.normal(0, 10, ROWS)
    outputs = {
        "tensorflow": labels + rng.normal(0, 5, (3, ROWS)),
        "pytorch": labels + rng.normal(0, 1, (3, ROWS)),
    }
    _, lines = _judged(outputs, labels, REGRESSION)
    assert _line(lines, "quality").startswith("Quality: PyTorch is better on RMSE (test) by ")


def test_one_seed_a_side_gives_cost_figures_no_interval_and_says_so():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, ROWS)
    outputs = {name: _classifier(labels, 0.8, 1, rng) for name in NAMES}
    _, lines = _judged(outputs, labels, CLASSIFICATION, seeds=(0,))
    training = _line(lines, "training")
    assert re.fullmatch(
        r"Training \(PyTorch ÷ TensorFlow\): throughput [\d.]+×; fit time [\d.]+×; "
        r"peak memory [\d.]+×\.",
        training,
    ), training
    assert "a side with one seed gives its cost figures no interval" in _line(lines, "caveats")


def test_a_row_level_difference_that_another_seed_undoes_is_a_tie_that_says_so():
    """PyTorch's seeds disagree (60% and twice 97% right) around TensorFlow's steady 80%: pooled
    over the rows its models differ (p < 0.05), but resampling the seeds spans 0."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, ROWS)
    steady = _classifier(labels, 0.80, 1, rng)
    uneven = np.concatenate([_classifier(labels, share, 1, rng) for share in (0.60, 0.97, 0.97)])
    comparison, lines = _judged(
        {"tensorflow": np.concatenate([steady] * 3), "pytorch": uneven}, labels, CLASSIFICATION
    )
    accuracy = comparison.metrics[0]
    low, high = accuracy.difference_ci
    assert accuracy.p_value < 0.05 and low < 0 < high
    assert (accuracy.significant, accuracy.better) == (False, None)
    assert SEEDS_OUTWEIGH_ROWS in _line(lines, "quality")
