"""The command line of `make bench`."""

from __future__ import annotations

import pytest

from benchmarks.run import BENCHMARKS, _parse_args, selected

DEFAULT_SUITE = {
    "ingest",
    "tfx-ingest",
    "pipelines",
    "compile",
    "footprint",
    "ddp",
    "mlflow-load",
    "serving",
}


def test_every_issue_benchmark_is_registered():
    assert set(BENCHMARKS) == DEFAULT_SUITE | {"scale"}


def test_the_scale_round_runs_only_when_asked():
    assert set(selected(with_scale=False)) == DEFAULT_SUITE
    assert selected(with_scale=True)[-1] == "scale"
    assert _parse_args(["--with-scale"]).with_scale
    assert _parse_args(["--only", "scale"]).only == "scale"


def test_quick_defaults_to_one_round():
    args = _parse_args(["--quick", "--only", "ddp"])
    assert args.quick and args.repeats == 1 and args.only == "ddp"


def test_a_full_run_needs_three_rounds():
    assert _parse_args([]).repeats == 3
    with pytest.raises(SystemExit):
        _parse_args(["--repeats", "2"])
