"""What a comparison holds, from the MLflow runs to the report: plain data, no I/O.

`collect` fills `PipelineRun`s from MLflow, `stats` and `fairness` turn them into
`MetricComparison`s and `AuditItem`s, `plots` and `html` render a `Comparison`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.common.frameworks import PYTORCH, TENSORFLOW


@dataclass(frozen=True)
class StepRun:
    """One step's MLflow run (ingest, train or evaluate) under a pipeline's parent run."""

    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    # Per-epoch series of the train run (train_loss, train_accuracy, val_loss, val_accuracy):
    # metric name → [(epoch, value), ...] in epoch order.
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline run of one framework for one seed: the parent run and its steps."""

    framework: str
    seed: int
    run_id: str
    run_name: str
    tags: dict[str, str]
    train: StepRun
    evaluate: StepRun
    ingest: StepRun | None = None
    # What the run cost (`collect.pipeline_cost`): wall_s, stages_s, overhead_s; None for a
    # parent run that logged no pipeline wall time.
    pipeline: StepRun | None = None


@dataclass(frozen=True)
class Summary:
    """One framework's values of a metric over its seeds."""

    values: tuple[float, ...]
    mean: float
    ci_low: float
    ci_high: float

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Ratio:
    """PyTorch ÷ TensorFlow of a figure's mean over seeds, with its 95% bootstrap interval
    (None bounds when a side has fewer than two seeds)."""

    estimate: float
    low: float | None
    high: float | None

    @property
    def excludes_one(self) -> bool:
        return self.low is not None and self.high is not None and not self.low <= 1 <= self.high


@dataclass(frozen=True)
class MetricComparison:
    """A metric side by side: each framework's mean over seeds with its 95% interval, the
    difference (pytorch - tensorflow) with its 95% interval, and how it was judged.

    A quality metric is judged by a paired test on the test rows (`test`, `p_raw`, then `p_value`
    Holm-adjusted across the table) and states the smallest difference the run could detect; a
    cost figure by its ratio's interval (`ratio`); a slice is descriptive (no test)."""

    metric: str
    label: str
    unit: str
    higher_is_better: bool | None
    tensorflow: Summary
    pytorch: Summary
    difference: float
    difference_ci: tuple[float, float] | None
    p_value: float | None
    significant: bool
    test: str | None = None
    p_raw: float | None = None
    detectable: float | None = None
    ratio: Ratio | None = None

    @property
    def better(self) -> str | None:
        """The framework that is significantly better, if any and if "better" has a direction."""
        if not self.significant or self.higher_is_better is None or self.difference == 0:
            return None
        pytorch_higher = self.difference > 0
        return PYTORCH.name if pytorch_higher == self.higher_is_better else TENSORFLOW.name


@dataclass(frozen=True)
class AuditItem:
    """One fairness check: what was compared, whether it holds, and each side's value."""

    name: str
    passed: bool
    detail: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VerdictLine:
    """One sentence of the verdict; `topic` is audit, quality, training, serving, pipeline or
    caveats."""

    topic: str
    text: str


@dataclass(frozen=True)
class Comparison:
    """Everything the report shows."""

    spec_name: str
    experiment: str
    tracking_uri: str
    run_group: str | None
    runs: tuple[PipelineRun, ...]
    metrics: tuple[MetricComparison, ...]
    slices: tuple[MetricComparison, ...]
    audit: tuple[AuditItem, ...]
    method: str
    alpha: float
    # How many test rows every run predicted (what the paired statistics resample); 0 when the
    # comparison has no quality metrics.
    test_rows: int = 0
    # The plain-words answer at the top of the report and the end of `tandem run`.
    verdict: tuple[VerdictLine, ...] = ()
    # framework → the architecture summary its train run logged (`layer_summary`), or None.
    architectures: dict[str, str | None] = field(default_factory=dict)

    def runs_of(self, framework: str) -> list[PipelineRun]:
        return sorted((r for r in self.runs if r.framework == framework), key=lambda r: r.seed)

    @property
    def audit_passed(self) -> bool:
        return all(item.passed for item in self.audit)
