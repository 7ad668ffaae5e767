"""The blessing: thresholds, no regression vs the champion, both metric directions."""

from __future__ import annotations

import json

import pytest

from components.common.errors import TandemError
from components.evaluate.blessing import Blessing, Check, judge, write_blessing
from components.spec import EvaluationSpec

EVALUATION = EvaluationSpec(thresholds={"accuracy": 0.9, "macro_f1": 0.85})
CHAMPION = {"accuracy": 0.95, "macro_f1": 0.93, "log_loss": 0.2, "ece": 0.05}


def _failed(blessing: Blessing) -> list[tuple[str, str]]:
    return [(check.metric, check.kind) for check in blessing.failed]


def test_a_model_below_a_threshold_is_refused():
    blessing = judge({"accuracy": 0.88, "macro_f1": 0.9}, EVALUATION, "classification")
    assert not blessing.blessed
    assert _failed(blessing) == [("accuracy", "threshold")]
    assert blessing.failed[0] == Check("accuracy", "threshold", 0.88, 0.9, False)


def test_the_first_model_is_judged_on_thresholds_only():
    blessing = judge({"accuracy": 0.91, "macro_f1": 0.86}, EVALUATION, "classification")
    assert blessing.blessed
    assert blessing.champion_version is None
    assert [(c.metric, c.kind) for c in blessing.checks] == [
        ("accuracy", "threshold"),
        ("macro_f1", "threshold"),
    ]


def test_a_challenger_that_regresses_beyond_the_tolerance_is_refused():
    challenger = {"accuracy": 0.92, "macro_f1": 0.92}  # above both thresholds
    blessing = judge(challenger, EVALUATION, "classification", CHAMPION, champion_version="3")
    assert not blessing.blessed
    assert _failed(blessing) == [("accuracy", "no_regression")]
    check = blessing.failed[0]
    assert check.limit == pytest.approx(0.93)
    assert check.describe() == "accuracy 0.92 >= 0.93 (no_regression): failed"
    assert blessing.champion_version == "3"


def test_a_challenger_within_the_tolerance_or_better_is_blessed():
    for accuracy in (0.93, 0.94, 0.97):  # 0.93 lies exactly on champion 0.95 - tolerance 0.02
        blessing = judge(
            {"accuracy": accuracy, "macro_f1": 0.93}, EVALUATION, "classification", CHAMPION, "3"
        )
        assert blessing.blessed, blessing.failed
        assert len(blessing.checks) == 4
        assert {c.kind for c in blessing.checks} == {"threshold", "no_regression"}


def test_log_loss_is_lower_is_better():
    evaluation = EvaluationSpec(thresholds={"log_loss": 0.5}, regression_tolerance=0.02)
    assert judge({"log_loss": 0.4}, evaluation, "classification").blessed
    refused = judge({"log_loss": 0.6}, evaluation, "classification")
    assert _failed(refused) == [("log_loss", "threshold")]
    assert refused.failed[0].describe() == "log_loss 0.6 <= 0.5 (threshold): failed"
    regressed = judge({"log_loss": 0.35}, evaluation, "classification", CHAMPION, "7")
    assert _failed(regressed) == [("log_loss", "no_regression")]
    assert regressed.failed[0].limit == pytest.approx(0.22)
    assert judge({"log_loss": 0.21}, evaluation, "classification", CHAMPION, "7").blessed


def test_a_metric_missing_from_the_model_is_an_error():
    with pytest.raises(TandemError, match="the model has no 'macro_f1' metric"):
        judge({"accuracy": 0.99}, EVALUATION, "classification")


def test_a_metric_missing_from_the_champion_is_an_error():
    with pytest.raises(TandemError, match=r"the champion \(version 2\) has no 'macro_f1'"):
        judge(
            {"accuracy": 0.99, "macro_f1": 0.99},
            EVALUATION,
            "classification",
            {"accuracy": 0.9},
            "2",
        )


def test_write_blessing_writes_indented_json(tmp_path):
    blessing = judge(
        {"accuracy": 0.92, "macro_f1": 0.92}, EVALUATION, "classification", CHAMPION, "3"
    )
    path = write_blessing(blessing, tmp_path / "out" / "blessing.json")
    text = path.read_text()
    assert '\n  "blessed": false' in text
    document = json.loads(text)
    assert document == blessing.to_dict()
    assert document["champion_version"] == "3"
    assert document["checks"][2] == {
        "metric": "accuracy",
        "kind": "no_regression",
        "value": 0.92,
        "limit": pytest.approx(0.93),
        "passed": False,
    }


REGRESSION = EvaluationSpec(thresholds={"rmse": 600.0, "r2": 0.9}, regression_tolerance=0.02)


def test_regression_gates_rmse_as_a_maximum_and_r2_as_a_minimum():
    assert judge({"rmse": 550.0, "mae": 300.0, "r2": 0.95}, REGRESSION, "regression").blessed
    refused = judge({"rmse": 650.0, "mae": 300.0, "r2": 0.85}, REGRESSION, "regression")
    assert _failed(refused) == [("rmse", "threshold"), ("r2", "threshold")]
    assert refused.metrics == {"rmse": 650.0, "mae": 300.0, "r2": 0.85}


def test_a_regression_challenger_may_trail_the_champion_rmse_by_the_tolerance_as_a_fraction():
    champion = {"rmse": 500.0, "mae": 250.0, "r2": 0.97}
    within = judge({"rmse": 509.0, "r2": 0.95}, REGRESSION, "regression", champion, "4")
    assert within.blessed
    beyond = judge({"rmse": 511.0, "r2": 0.95}, REGRESSION, "regression", champion, "4")
    assert _failed(beyond) == [("rmse", "no_regression")]
    assert beyond.checks[-1].limit == pytest.approx(510.0)


def test_regression_judges_the_champion_on_rmse_even_without_thresholds():
    no_gates = EvaluationSpec()
    assert no_gates.gates("regression") == {}
    verdict = judge({"rmse": 700.0}, no_gates, "regression", {"rmse": 500.0}, "1")
    assert _failed(verdict) == [("rmse", "no_regression")]
