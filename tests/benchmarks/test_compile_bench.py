"""The compile benchmark: its cases, and the structure of a quick run's result (never timings)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from benchmarks import compile_bench, compile_worker
from benchmarks import run as bench_run
from components.common.errors import TandemError
from components.spec import TrainingSpec

MODES = {"pytorch": ["eager", "compile"], "tensorflow": ["graph", "xla"]}


def _graphs(inductor_cache: dict) -> int:
    """Graphs Inductor compiled or loaded from its cache."""
    return inductor_cache["fxgraph_cache_hits"] + inductor_cache["fxgraph_cache_misses"]


def _ft_transformer(quick: bool) -> compile_bench.Case:
    return next(c for c in compile_bench.cases(TrainingSpec(), quick) if c.name != "mlp")


def test_the_full_size_ft_transformer_is_the_one_compilers_matter_for():
    case = _ft_transformer(quick=False)
    params = case.training.model.params
    assert case.training.model.family == "ft_transformer"
    assert (params.d_token, params.n_blocks, params.n_heads) == (192, 3, 8)
    assert case.training.batch_size == 1024 and case.peak_rss


def test_the_ft_transformer_trains_whole_batches_as_far_as_the_split_has_them():
    case = _ft_transformer(quick=False)
    batch = case.training.batch_size
    assert compile_bench.case_rows(case, 100 * batch) == case.steps * batch
    assert compile_bench.case_rows(case, 2 * batch + 7) == 2 * batch
    with pytest.raises(TandemError, match="--rows"):
        compile_bench.case_rows(case, batch - 1)


def test_the_worker_refuses_a_mode_of_the_other_framework(tmp_path):
    with pytest.raises(SystemExit):
        compile_worker.main(
            [
                *("--framework", "pytorch", "--mode", "xla", "--classes", "3"),
                *("--training", str(tmp_path / "t.json"), "--data", str(tmp_path / "d.npz")),
                *("--out", str(tmp_path / "out.json")),
            ]
        )


@pytest.fixture(scope="module")
def quick_document(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench_run, "RESULTS_DIR", directory)
        assert bench_run.main(["--quick", "--only", "compile"]) == 0
    return json.loads((directory / "latest-compile.json").read_text())


@pytest.mark.slow
def test_a_quick_run_compares_the_modes_of_both_cases_per_framework(quick_document):
    assert quick_document["benchmark"] == "compile" and quick_document["arguments"]["quick"]
    cases = quick_document["result"]["cases"]
    assert list(cases) == ["mlp", "ft_transformer"]
    assert cases["ft_transformer"]["model"].startswith("ft_transformer(d_token=32, n_blocks=1")
    for case in cases.values():
        for framework, modes in MODES.items():
            found = case[framework]
            assert found["variants"] == modes
            assert list(found["train_step_ms"]) == modes
            assert list(found["compile_s"]["first_train_step_s"]) == modes
            assert set(found["latency"]) == {"batch_1", "batch_256"}
            assert {"p50_ratio", f"{modes[1]}_p99_ms"} <= set(found["latency"]["batch_256"])
        assert _graphs(case["pytorch"]["inductor_cache"]) > 0


@pytest.mark.slow
def test_a_quick_run_has_the_ft_transformer_training_peak_rss_per_framework_and_mode(
    quick_document,
):
    cases = quick_document["result"]["cases"]
    assert "training_rss" not in cases["mlp"]["pytorch"]
    for framework, modes in MODES.items():
        rss = cases["ft_transformer"][framework]["training_rss"]
        assert list(rss) == modes
        for mode, found in rss.items():
            assert (found["framework"], found["mode"]) == (framework, mode)
            assert 0 < found["start_rss_mb"] <= found["peak_rss_mb"]
            assert found["increase_mb"] == pytest.approx(
                found["peak_rss_mb"] - found["start_rss_mb"]
            )
    torch_rss = cases["ft_transformer"]["pytorch"]["training_rss"]
    assert _graphs(torch_rss["eager"]["inductor_cache"]) == 0
    assert _graphs(torch_rss["compile"]["inductor_cache"]) > 0


@pytest.mark.slow
def test_a_quick_run_renders_every_table(quick_document):
    console = Console(record=True, width=200)
    compile_bench.render(quick_document["result"], console)
    text = console.export_text()
    for title in ("Compile modes, mlp", "Compile modes, ft_transformer", "Compile time"):
        assert title in text
    assert "Peak RSS of training, ft_transformer" in text
