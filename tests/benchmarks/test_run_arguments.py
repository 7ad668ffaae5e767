"""The command line of `make bench`."""

from __future__ import annotations

import pytest

from benchmarks.run import BENCHMARKS, _parse_args


def test_every_issue_benchmark_is_registered():
    assert set(BENCHMARKS) == {"ingest", "tfx-ingest", "pipelines", "compile", "footprint", "ddp"}


def test_quick_defaults_to_one_round():
    args = _parse_args(["--quick", "--only", "ddp"])
    assert args.quick and args.repeats == 1 and args.only == "ddp"


def test_a_full_run_needs_three_rounds():
    assert _parse_args([]).repeats == 3
    with pytest.raises(SystemExit):
        _parse_args(["--repeats", "2"])
