"""The blessing: may this model be pushed? Absolute thresholds plus no regression vs the champion.

Every metric in the spec's evaluation thresholds is checked against its threshold. Against the
registry's champion (when there is one): for classification every gated metric, which may trail
the champion's value by the regression tolerance (an absolute amount: 0.02 of accuracy); for
regression RMSE, which may exceed the champion's by the tolerance as a fraction (0.02: 2%), since
an RMSE is in the label's units. The first model ever has no champion and is judged on thresholds
only. GATED_METRICS gives each metric's direction per task: "min" (higher is better, the limit is a
minimum) or "max" (lower is better).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from components.common.errors import TandemError
from components.spec import GATED_METRICS, EvaluationSpec, Task

BLESSING_FILE = "blessing.json"
# Metrics are ratios such as 40/44 and limits are sums such as 0.95 - 0.02: without a little slack
# a value exactly on its limit could fail by float rounding.
_SLACK = 1e-12


DIRECTIONS = {metric: d for metrics in GATED_METRICS.values() for metric, d in metrics.items()}
REGRESSION_CHAMPION_METRIC = "rmse"


@dataclass(frozen=True)
class Check:
    metric: str
    kind: Literal["threshold", "no_regression"]
    value: float
    limit: float
    passed: bool

    def describe(self) -> str:
        """One line, e.g. `accuracy 0.91 >= 0.93 (no_regression): failed`."""
        sign = ">=" if DIRECTIONS[self.metric] == "min" else "<="
        verdict = "passed" if self.passed else "failed"
        return f"{self.metric} {self.value:.4g} {sign} {self.limit:.4g} ({self.kind}): {verdict}"


@dataclass(frozen=True)
class Blessing:
    blessed: bool
    checks: list[Check]
    champion_version: str | None
    # The model's value of every gated metric: the register step tags its version with them,
    # and the next challenger is judged against those tags.
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict:
        return {
            "blessed": self.blessed,
            "champion_version": self.champion_version,
            "checks": [asdict(check) for check in self.checks],
            "metrics": self.metrics,
        }


def _check(metric: str, kind: str, value: float, limit: float) -> Check:
    higher_is_better = DIRECTIONS[metric] == "min"
    passed = value >= limit - _SLACK if higher_is_better else value <= limit + _SLACK
    return Check(metric, kind, float(value), float(limit), bool(passed))


def _value(metrics: dict[str, float], metric: str, whose: str) -> float:
    if metric not in metrics:
        have = ", ".join(sorted(metrics)) or "none"
        raise TandemError(
            f"{whose} has no '{metric}' metric, which the blessing gates "
            f"(it has: {have}); evaluate it again, or remove the threshold from the spec"
        )
    return float(metrics[metric])


def _champion_limit(metric: str, best: float, tolerance: float, task: Task) -> float:
    if task == "regression":
        return best * (1 + tolerance)
    return best - tolerance if DIRECTIONS[metric] == "min" else best + tolerance


def judge(
    metrics: dict[str, float],
    evaluation: EvaluationSpec,
    task: Task,
    champion_metrics: dict[str, float] | None = None,
    champion_version: str | None = None,
) -> Blessing:
    """Bless `metrics` if every threshold holds and, given a champion, the model does not regress
    beyond evaluation.regression_tolerance (see the module docstring)."""
    gates = evaluation.gates(task)
    checks = [
        _check(metric, "threshold", _value(metrics, metric, "the model"), limit)
        for metric, limit in gates.items()
    ]
    if champion_metrics is not None:
        champion = (
            f"the champion (version {champion_version})" if champion_version else "the champion"
        )
        compared = [REGRESSION_CHAMPION_METRIC] if task == "regression" else list(gates)
        for metric in compared:
            best = _value(champion_metrics, metric, champion)
            limit = _champion_limit(metric, best, evaluation.regression_tolerance, task)
            checks.append(
                _check(metric, "no_regression", _value(metrics, metric, "the model"), limit)
            )
    gated = {metric: float(metrics[metric]) for metric in GATED_METRICS[task] if metric in metrics}
    return Blessing(all(c.passed for c in checks), checks, champion_version, gated)


def write_blessing(blessing: Blessing, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(blessing.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def read_blessing(evaluation_dir: str | Path) -> dict:
    """The blessing.json an evaluation wrote into its directory (`Blessing.to_dict`)."""
    return json.loads((Path(evaluation_dir) / BLESSING_FILE).read_text(encoding="utf-8"))
