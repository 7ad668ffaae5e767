"""Comparison plots: the expected PNGs, framework colours, and gaps in the data tolerated."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from components.compare.catalogue import slice_name
from components.compare.model import Comparison, PipelineRun, Summary
from components.compare.plots import FRAMEWORK_COLOURS, write_plots
from tests.components.compare.fixtures import make_comparison

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL_PLOTS = {
    "loss_curves",
    "accuracy_curves",
    "quality",
    "slices",
    "throughput",
    "memory",
    "latency",
    "model_size",
    "cost",
}


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 200, (path, width, height)
    assert len(data) > 5_000, path  # a drawn figure, not an empty canvas


def colour_pixels(path: Path, colour: str) -> int:
    """Pixels within a small distance of `colour` (anti-aliasing blends line edges)."""
    image = imread(path)[..., :3]
    return int((np.abs(image - np.array(to_rgb(colour))).max(axis=-1) < 0.04).sum())


@pytest.fixture(scope="module")
def full_plots(tmp_path_factory) -> dict[str, Path]:
    return write_plots(make_comparison(), tmp_path_factory.mktemp("plots"))


def test_every_plot_is_written_as_a_png(full_plots, tmp_path_factory):
    assert set(full_plots) == ALL_PLOTS
    for name, path in full_plots.items():
        assert path.name == f"{name}.png"
        assert_png(path)


def test_curves_colour_each_framework(full_plots, tmp_path):
    for name in ("loss_curves", "accuracy_curves", "quality", "latency"):
        for colour in FRAMEWORK_COLOURS.values():
            assert colour_pixels(full_plots[name], colour) > 200, (name, colour)
    only_pytorch = write_plots(make_comparison(frameworks=("pytorch",)), tmp_path)
    assert colour_pixels(only_pytorch["loss_curves"], FRAMEWORK_COLOURS["tensorflow"]) < 20
    assert colour_pixels(only_pytorch["loss_curves"], FRAMEWORK_COLOURS["pytorch"]) > 200


def test_one_framework_with_fewer_seeds_still_plots_everything(tmp_path):
    comparison = make_comparison(seeds={"tensorflow": (1,), "pytorch": (0, 1, 2)})
    plots = write_plots(comparison, tmp_path)
    assert set(plots) == ALL_PLOTS
    for path in plots.values():
        assert_png(path)


def _drop(runs: tuple[PipelineRun, ...], framework: str, name: str) -> tuple[PipelineRun, ...]:
    """The runs with evaluate metric `name` and the val curves gone from one framework's runs."""

    def without(run: PipelineRun) -> PipelineRun:
        if run.framework != framework:
            return run
        metrics = {k: v for k, v in run.evaluate.metrics.items() if k != name}
        history = {k: v for k, v in run.train.history.items() if not k.startswith("val_")}
        return dataclasses.replace(
            run,
            evaluate=dataclasses.replace(run.evaluate, metrics=metrics),
            train=dataclasses.replace(run.train, history=history),
        )

    return tuple(without(run) for run in runs)


def test_a_metric_missing_for_some_runs_or_altogether_is_skipped(tmp_path):
    full = make_comparison()
    runs = _drop(full.runs, "tensorflow", "ece")
    nothing = Summary(values=(), mean=float("nan"), ci_low=float("nan"), ci_high=float("nan"))
    metrics = tuple(
        dataclasses.replace(m, tensorflow=nothing) if m.metric == "ece" else m
        for m in full.metrics
        if not m.metric.startswith("latency.") and m.metric != "model_size_bytes"
    )
    comparison = dataclasses.replace(full, runs=runs, metrics=metrics)

    plots = write_plots(comparison, tmp_path)

    assert set(plots) == ALL_PLOTS - {"latency", "model_size"}
    for path in plots.values():
        assert_png(path)


def test_no_slices_and_no_history_leave_those_plots_out(tmp_path):
    full = make_comparison()
    runs = tuple(
        dataclasses.replace(run, train=dataclasses.replace(run.train, history={}))
        for run in full.runs
    )
    comparison = dataclasses.replace(full, runs=runs, slices=())
    plots = write_plots(comparison, tmp_path)
    assert set(plots) == ALL_PLOTS - {"slices", "loss_curves", "accuracy_curves"}
    assert not (tmp_path / "slices.png").exists()


def test_nothing_to_plot_writes_nothing(tmp_path):
    empty = Comparison("s", "e", "sqlite://", None, (), (), (), (), "Welch's t-test", 0.05)
    assert write_plots(empty, tmp_path / "plots") == {}


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("slice.island.Biscoe.accuracy", ("island", "Biscoe", "accuracy")),
        ("slice.bill_length.(35.0, 40.0].accuracy", ("bill_length", "(35.0, 40.0]", "accuracy")),
        ("slice.cut.Ideal.rmse", ("cut", "Ideal", "rmse")),
        ("slice.cut.Ideal.mae", None),
        ("slice.island.Biscoe.count", None),
        ("accuracy", None),
        ("slice.island.accuracy", None),
    ],
)
def test_slice_name(metric, expected):
    assert slice_name(metric) == expected


def test_an_interval_beside_its_mean_still_plots(tmp_path):
    """One seed's ECE: the bootstrap interval over resampled rows can lie wholly above the mean
    (ECE grows on resampled rows); a missing bound plots as no error bar."""
    full = make_comparison()
    beside = Summary(values=(0.02,), mean=0.02, ci_low=0.03, ci_high=0.05)
    unbounded = Summary(values=(0.02,), mean=0.02, ci_low=None, ci_high=None)
    metrics = tuple(
        dataclasses.replace(m, tensorflow=beside, pytorch=unbounded) if m.metric == "ece" else m
        for m in full.metrics
    )
    plots = write_plots(dataclasses.replace(full, metrics=metrics), tmp_path)
    assert_png(plots["quality"])
