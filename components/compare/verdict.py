"""The verdict: a few plain sentences a reviewer reads first, at the top of the report and at the
end of `tandem run` — the fairness audit when it failed, quality, training cost, serving,
pipeline cost, then the caveats that apply — each figure with its interval.

Cost figures read as PyTorch ÷ TensorFlow; where the interval excludes 1 the sentence also says
which framework wins and by what factor ("PyTorch 2.2× faster").
"""

from __future__ import annotations

from components.common.frameworks import PYTORCH, TENSORFLOW
from components.common.run_environment import TAG_PREFIX
from components.compare.model import Comparison, MetricComparison, VerdictLine

VERDICT_ARTIFACT = "verdict.txt"
# A tie whose paired test alone would call a difference: the interval, which also resamples the
# seeds, spans 0.
SEEDS_OUTWEIGH_ROWS = (
    " (these trained models differ on the test rows, but another seed moves the metric as much)"
)
PRIMARY_QUALITY = ("accuracy", "rmse")
TRAINING = (
    ("train.samples_per_s", "throughput"),
    ("train.fit_s", "fit time"),
    ("train.peak_rss_mb", "peak memory"),
)
SERVING = (
    ("latency.batch_1.p50_ms", "batch 1 p50 latency"),
    ("latency.batch_1.p99_ms", "batch 1 p99 latency"),
    ("latency.batch_256.p50_ms", "batch 256 p50 latency"),
    ("evaluate.peak_rss_mb", "memory"),
    ("model_size_bytes", "model size"),
)
PIPELINE = (("pipeline.wall_s", "wall time per run"),)
# What a winning framework is, by the figure's unit.
WINNING_WORD = {
    "ms": "faster",
    "s": "faster",
    "samples/s": "faster",
    "MiB": "smaller",
    "bytes": "smaller",
}
LABELS = {TENSORFLOW.name: "TensorFlow", PYTORCH.name: "PyTorch"}


def _number(value: float) -> str:
    return f"{value:.3g}"


def _signed(value: float) -> str:
    return f"{value:+.3g}"


def _interval(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return "[no interval]"
    shown = _signed if signed else _number
    return f"[{shown(low)}, {shown(high)}]"


def _audit_line(comparison: Comparison) -> VerdictLine | None:
    failed = [item for item in comparison.audit if not item.passed]
    if not failed:
        return None
    checks = "; ".join(f"{item.name} ({item.detail})" for item in failed)
    return VerdictLine(
        "audit",
        f"Unfair comparison: the fairness audit failed — {checks}. The differences below may "
        "come from the setup, not from the frameworks.",
    )


def _metric(comparison: Comparison, key: str) -> MetricComparison | None:
    return next((m for m in comparison.metrics if m.metric == key), None)


def _better_by(metric: MetricComparison) -> str:
    low, high = metric.difference_ci or (None, None)
    return (
        f"{LABELS[metric.better]} is better on {metric.label} by {_number(abs(metric.difference))} "
        f"(PyTorch − TensorFlow {_signed(metric.difference)} {_interval(low, high, signed=True)}, "
        f"Holm p = {metric.p_value:.2g})"
    )


def _primary(comparison: Comparison) -> MetricComparison | None:
    """The task's headline quality metric: accuracy, or RMSE for regression."""
    return next((m for key in PRIMARY_QUALITY if (m := _metric(comparison, key))), None)


def _quality_line(comparison: Comparison) -> VerdictLine | None:
    quality = [m for m in comparison.metrics if m.p_raw is not None]
    primary = _primary(comparison)
    if primary is None:
        return None
    if primary.better:
        sentence = f"Quality: {_better_by(primary)}."
    else:
        low, high = primary.difference_ci or (None, None)
        sentence = (
            f"Quality: a tie on {primary.label} — PyTorch − TensorFlow "
            f"{_signed(primary.difference)} {_interval(low, high, signed=True)}, Holm p = "
            f"{primary.p_value:.2g}"
            + (SEEDS_OUTWEIGH_ROWS if primary.p_value < comparison.alpha else "")
            + "; "
            + (
                f"this run could detect a difference of {_number(primary.detectable)} or more."
                if primary.detectable is not None
                else "the test rows vary too little to size the smallest detectable difference."
            )
        )
    others = [m for m in quality if m is not primary and m.better]
    if others:
        sentence += " Also: " + "; ".join(_better_by(m) for m in others) + "."
    elif len(quality) > 1:
        sentence += " No other quality metric differs significantly."
    return VerdictLine("quality", sentence)


def _winner(metric: MetricComparison) -> str:
    """ "PyTorch 2.2× faster" when the ratio's interval excludes 1, else "no clear difference"."""
    if not metric.significant or metric.better is None:
        return "no clear difference"
    estimate = metric.ratio.estimate
    factor = estimate if estimate >= 1 else 1 / estimate
    word = WINNING_WORD.get(metric.unit, "better")
    return f"{LABELS[metric.better]} {factor:.2g}× {word}"


def _ratios_line(comparison: Comparison, topic: str, title: str, figures) -> VerdictLine | None:
    parts = []
    for key, name in figures:
        metric = _metric(comparison, key)
        if metric is None or metric.ratio is None:
            continue
        ratio = metric.ratio
        if ratio.low is None:  # one seed a side: the caveats say so once
            parts.append(f"{name} {ratio.estimate:.2f}×")
        else:
            interval = _interval(ratio.low, ratio.high)
            parts.append(f"{name} {ratio.estimate:.2f}× {interval} ({_winner(metric)})")
    if not parts:
        return None
    return VerdictLine(topic, f"{title} (PyTorch ÷ TensorFlow): " + "; ".join(parts) + ".")


def _hardware(comparison: Comparison) -> tuple[str | None, str | None]:
    """The CPU model and accelerators the train runs recorded (None when not recorded)."""
    tags = comparison.runs[0].train.tags if comparison.runs else {}
    return tags.get(f"{TAG_PREFIX}cpu_model"), tags.get(f"{TAG_PREFIX}accelerators")


def _caveats(comparison: Comparison) -> VerdictLine:
    cpu, accelerators = _hardware(comparison)
    caveats = []
    if accelerators == "none":
        caveats.append(f"measured on CPU only ({cpu}, no accelerator)")
    if _metric(comparison, "train.peak_rss_mb") is not None:
        caveats.append(
            "TensorFlow's training memory is the peak of the TFX process, which also runs the "
            "pipeline's other components; PyTorch's is its training workers'"
        )
    seeds = {name: len(comparison.runs_of(name)) for name in LABELS}
    primary = _primary(comparison)
    if primary is not None and primary.detectable is not None:
        caveats.append(
            f"{seeds[TENSORFLOW.name]} TensorFlow and {seeds[PYTORCH.name]} PyTorch seeds on "
            f"{comparison.test_rows} test rows cannot reliably detect a difference in "
            f"{primary.label} smaller than {_number(primary.detectable)}"
        )
    if min(seeds.values()) < 2:
        caveats.append("a side with one seed gives its cost figures no interval")
    return VerdictLine("caveats", "Caveats: " + "; ".join(caveats) + ".")


def verdict_lines(comparison: Comparison) -> tuple[VerdictLine, ...]:
    """The verdict of a built comparison (its metrics judged, its audit done)."""
    lines = (
        _audit_line(comparison),
        _quality_line(comparison),
        _ratios_line(comparison, "training", "Training", TRAINING),
        _ratios_line(comparison, "serving", "Serving", SERVING),
        _ratios_line(comparison, "pipeline", "Pipeline", PIPELINE),
        _caveats(comparison),
    )
    return tuple(line for line in lines if line is not None)


def verdict_text(comparison: Comparison) -> str:
    """The verdict as plain text, one sentence a line."""
    return "".join(f"{line.text}\n" for line in comparison.verdict)
