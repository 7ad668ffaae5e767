"""The HTML report: self-contained, sections in order, the audit up front, the table's numbers
exactly the Summaries', everything escaped."""

from __future__ import annotations

import base64
import dataclasses
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from components.compare.html import format_number, format_p_value, render_html
from components.compare.model import AuditItem, Comparison, MetricComparison
from components.compare.plots import write_plots
from tests.components.compare.fixtures import ARCHITECTURES, BANNER, HEADINGS, make_comparison


class ReportParser(HTMLParser):
    """Collects headings, image sources, audit items and every `data-field` cell of the tables.

    `cells[row][field]` is (data-value, text) for the rows with `data-metric` or `data-run-id`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.headings: dict[str, list[str]] = {"h1": [], "h2": []}
        self.images: list[str] = []
        self.audit: list[tuple[str, str]] = []  # (class, text)
        self.cells: dict[str, dict[str, tuple[str | None, str]]] = {}
        self.banners: list[tuple[str, str]] = []
        self._open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self._row: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
            return
        if tag == "tr":
            self._row = attributes.get("data-metric") or attributes.get("data-run-id")
        self._open.append((tag, attributes, []))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, attributes, texts = self._open.pop()
            text = " ".join("".join(texts).split())
            for _, _, outer in self._open:
                outer.append(" " + text + " ")
            if open_tag == tag:
                self._record(tag, attributes, text)
                return

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)

    def _record(self, tag, attributes, text):
        classes = (attributes.get("class") or "").split()
        if tag in self.headings:
            self.headings[tag].append(text)
        elif "audit-item" in classes:
            self.audit.append((" ".join(classes), text))
        elif "banner" in classes:
            self.banners.append((" ".join(classes), text))
        if self._row and attributes.get("data-field"):
            self.cells.setdefault(self._row, {})[attributes["data-field"]] = (
                attributes.get("data-value"),
                text,
            )


def parse(html: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def plots(tmp_path_factory) -> dict[str, Path]:
    return write_plots(make_comparison(), tmp_path_factory.mktemp("plots"))


@pytest.fixture(scope="module")
def passing(plots) -> tuple[Comparison, str]:
    comparison = make_comparison()
    return comparison, render_html(comparison, plots)


@pytest.fixture(scope="module")
def failing(plots) -> tuple[Comparison, str]:
    comparison = make_comparison(failed_audit=True)
    return comparison, render_html(comparison, plots)


def test_headings_in_order(passing):
    report = parse(passing[1])
    assert report.headings["h1"] == ["tandem comparison — penguins"]
    assert report.headings["h2"] == list(HEADINGS)


def test_header_names_experiment_tracking_group_and_seeds():
    comparison = make_comparison(seeds={"tensorflow": (0, 2), "pytorch": (0, 1, 2)})
    html = render_html(comparison, {})
    for text in (comparison.experiment, comparison.tracking_uri, comparison.run_group):
        assert text in html
    assert re.search(r'data-field="tensorflow_seeds" data-value="2">2 \(0, 2\)<', html)
    assert re.search(r'data-field="pytorch_seeds" data-value="3">3 \(0, 1, 2\)<', html)


def test_self_contained_with_images_inlined(passing, plots):
    html = passing[1]
    for forbidden in ("http://", "https://", 'src="file:', "<script", "<link", "url("):
        assert forbidden not in html, forbidden
    images = parse(html).images
    assert len(images) == len(plots)
    for source in images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_in_their_sections(passing):
    html = passing[1]
    sections = re.findall(r'<section id="([^"]+)">(.*?)</section>', html, flags=re.S)
    plots_in = {name: re.findall(r'data-plot="([^"]+)"', body) for name, body in sections}
    assert plots_in["training-curves"] == ["loss_curves", "accuracy_curves"]
    assert plots_in["quality"] == ["quality"]
    assert plots_in["per-slice"] == ["slices"]
    assert plots_in["throughput-and-memory"] == ["throughput", "memory"]
    assert plots_in["serving"] == ["latency", "model_size"]


def test_failed_audit_item_is_red_under_a_banner(failing):
    comparison, html = failing
    report = parse(html)
    assert report.banners == [("banner fail", BANNER)]
    failed = [text for classes, text in report.audit if classes == "audit-item fail"]
    assert len(failed) == 1 and "parameter counts within 5%" in failed[0]
    assert "4739" in failed[0] and "5379" in failed[0]
    assert len([c for c, _ in report.audit if c == "audit-item pass"]) == len(comparison.audit) - 1
    assert html.index(BANNER) < html.index('class="audit-item') < html.index("<h2>Side by side")
    css = html[html.index("<style>") : html.index("</style>")]
    assert re.search(r"\.banner\.fail \{ background: #b3261e;", css)
    assert re.search(r"\.audit-item\.fail \{[^}]*border-color: #b3261e", css)
    assert re.search(r"\.audit-item\.pass \{[^}]*border-color: #1e7b34", css)


def test_passing_audit_has_no_banner(passing):
    comparison, html = passing
    report = parse(html)
    assert report.banners == []
    assert "Fairness audit failed" not in html
    assert [c for c, _ in report.audit] == ["audit-item pass"] * len(comparison.audit)


def _architecture(html: str, framework: str) -> str:
    figure = re.search(rf'<figure data-architecture="{framework}">(.*?)</figure>', html, re.S)
    assert figure, framework
    return figure.group(1)


def test_both_architectures_are_shown_side_by_side(passing):
    comparison, html = passing
    section = re.search(r'<section id="architectures">(.*?)</section>', html, re.S).group(1)
    assert section.index('data-architecture="tensorflow"') < section.index(
        'data-architecture="pytorch"'
    )
    for framework in ("tensorflow", "pytorch"):
        shown = re.search(r"<pre>(.*?)</pre>", _architecture(html, framework), re.S).group(1)
        assert unescape(shown) == comparison.architectures[framework] == ARCHITECTURES[framework]


def test_a_missing_architecture_summary_says_so(passing):
    comparison = dataclasses.replace(
        passing[0], architectures={"tensorflow": "<b>layers</b>", "pytorch": None}
    )
    html = render_html(comparison, {})
    assert "&lt;b&gt;layers&lt;/b&gt;" in _architecture(html, "tensorflow")
    pytorch = _architecture(html, "pytorch")
    assert "<pre>" not in pytorch
    assert "The train run logged no architecture summary." in pytorch


def _assert_row(cells: dict[str, tuple[str | None, str]], metric: MetricComparison) -> None:
    for framework in ("tensorflow", "pytorch"):
        summary = getattr(metric, framework)
        for field, expected in (
            ("mean", summary.mean),
            ("ci_low", summary.ci_low),
            ("ci_high", summary.ci_high),
        ):
            value, text = cells[f"{framework}_{field}"]
            assert float(value) == expected, (metric.metric, framework, field)
            assert text.startswith(format_number(expected))
    assert float(cells["difference"][0]) == metric.difference
    if metric.difference_ci is None:
        assert "difference_ci_low" not in cells
    else:
        assert float(cells["difference_ci_low"][0]) == metric.difference_ci[0]
        assert float(cells["difference_ci_high"][0]) == metric.difference_ci[1]
    if metric.ratio is None:
        assert cells["ratio"] == ("", "—")
    else:
        assert float(cells["ratio"][0]) == metric.ratio.estimate
        assert float(cells["ratio_ci_low"][0]) == metric.ratio.low
        assert float(cells["ratio_ci_high"][0]) == metric.ratio.high
    assert cells["p_value"][1] == format_p_value(metric.p_value)
    if metric.p_value is not None:
        assert float(cells["p_value"][0]) == metric.p_value
    assert cells["detectable"][1] == format_number(metric.detectable)
    assert cells["significant"] == (
        str(metric.significant).lower(),
        "yes" if metric.significant else "no",
    )
    assert cells["better"][0] == (metric.better or "")
    assert cells["label"][1] == metric.label
    assert cells["unit"][1] == metric.unit


def test_side_by_side_numbers_are_the_summaries(passing):
    comparison, html = passing
    cells = parse(html).cells
    for metric in (*comparison.metrics, *comparison.slices):
        _assert_row(cells[metric.metric], metric)
    assert cells["latency.batch_1.p50_ms"]["better"][1] == "PyTorch"  # 4× faster in the fixture
    assert cells["macro_f1"]["better"][1] == "—"  # not significant
    assert comparison.method in unescape(html)
    assert f"({comparison.test_rows} test rows)" in html


def test_a_framework_without_runs_compares_nothing():
    html = render_html(make_comparison(frameworks=("pytorch",)), {})
    assert "No metrics found in the runs." in html
    assert "No verdict: the runs logged no comparable figures." in html
    assert 'data-field="tensorflow_seeds" data-value="0"' in html


def test_runs_table(passing):
    comparison, html = passing
    cells = parse(html).cells
    assert re.findall(r"<tr data-run-id=\"([^\"]+)\"", html) == [
        run.run_id for f in ("tensorflow", "pytorch") for run in comparison.runs_of(f)
    ]
    run = comparison.runs[0]
    row = cells[run.run_id]
    assert row["fingerprint"][1] == run.tags["tandem.dataset_fingerprint"][:12]
    assert row["revision"][1] == run.tags["tandem.git_revision"][:8]
    assert (row["seed"][1], row["run_name"][1]) == (str(run.seed), run.run_name)


def test_no_slices_and_no_plots_say_so():
    comparison = dataclasses.replace(make_comparison(), slices=())
    report = parse(html := render_html(comparison, {}))
    assert report.headings["h2"] == list(HEADINGS)
    assert "This spec defines no slices." in html
    assert report.images == []


def test_everything_is_escaped():
    hostile = "<script>alert(1)</script>"
    comparison = dataclasses.replace(
        make_comparison(),
        spec_name=hostile,
        audit=(
            AuditItem(name=hostile, passed=False, detail="<b>x</b>", values={"pytorch": hostile}),
        ),
    )
    html = render_html(comparison, {})
    assert "<script" not in html and "<b>x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.962345, "0.9623"),
        (0.000354621, "0.0003546"),
        (-2.61634, "-2.616"),
        (9999.4, "9999"),
        (58214.0, "58,214"),
        (float("nan"), "—"),
        (None, "—"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.0312, "0.031"), (0.5, "0.500"), (0.0009, "<0.001"), (None, "—")]
)
def test_format_p_value(value, text):
    assert format_p_value(value) == text
