"""The comparison report as one self-contained HTML file: inline CSS, PNGs as data URIs, no
script and no external URL, so it opens the same from MLflow's artifact view, a mail or a disk.

Every value is escaped (autoescape). Table cells carry the raw value in `data-value` (the
shortest `repr` of the float, so `float(data-value)` is exactly the Summary's number) beside the
rounded text, which keeps the report testable without parsing formatted numbers.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from pathlib import Path

import jinja2

from components.common.frameworks import NAMES
from components.common.tracking import TAG_FINGERPRINT, TAG_GIT_REVISION
from components.compare.model import Comparison, PipelineRun
from components.compare.plots import FRAMEWORK_COLOURS, FRAMEWORK_LABELS

SIGNIFICANT_DIGITS = 4
MISSING = "—"

# Report section → the plots it shows, in order (a plot missing from `plots` is left out).
SECTION_PLOTS = {
    "curves": ("loss_curves", "accuracy_curves", "rmse_curves"),
    "quality": ("quality",),
    "slices": ("slices",),
    "throughput": ("throughput", "memory"),
    "serving": ("latency", "model_size"),
    "cost": ("cost",),
}


def format_number(value: float | None) -> str:
    """4 significant digits; integers of 5 digits or more with thousands separators."""
    if value is None or not math.isfinite(value):
        return MISSING
    if abs(value) >= 10**SIGNIFICANT_DIGITS:
        return f"{value:,.0f}"
    return f"{value:.{SIGNIFICANT_DIGITS}g}"


def format_p_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def raw_value(value: float | None) -> str:
    """The exact value for a `data-value` attribute; empty when there is none."""
    return "" if value is None else repr(float(value))


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("components.compare", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=format_number, p_value=format_p_value, raw=raw_value)
    return environment


def render_html(comparison: Comparison, plots: Mapping[str, Path]) -> str:
    """The whole report; `plots` is `write_plots`' result (name → PNG), inlined here."""
    images = {name: data_uri(path) for name, path in plots.items()}
    sections = {
        section: [(name, images[name]) for name in names if name in images]
        for section, names in SECTION_PLOTS.items()
    }
    template = _environment().get_template("report.html.j2")
    return template.render(
        comparison=comparison,
        frameworks=NAMES,
        labels=FRAMEWORK_LABELS,
        colours=FRAMEWORK_COLOURS,
        failed=[item for item in comparison.audit if not item.passed],
        sections=sections,
        runs=[_run_row(run) for framework in NAMES for run in comparison.runs_of(framework)],
        missing=MISSING,
    )


def _run_row(run: PipelineRun) -> dict[str, str]:
    return {
        "framework": FRAMEWORK_LABELS.get(run.framework, run.framework),
        "seed": str(run.seed),
        "run_id": run.run_id,
        "run_name": run.run_name,
        "fingerprint": run.tags.get(TAG_FINGERPRINT, "")[:12] or MISSING,
        "revision": run.tags.get(TAG_GIT_REVISION, "")[:8] or MISSING,
    }
