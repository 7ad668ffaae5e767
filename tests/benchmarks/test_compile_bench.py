"""The compile benchmark: its cases, and the structure of a quick run's result (never timings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from benchmarks import compile_bench, compile_training, compile_worker
from benchmarks import run as bench_run
from components.common.architectures import NetworkInput
from components.common.errors import TandemError
from components.spec import TrainingSpec, load_spec, spec_location

MODES = {"pytorch": ["eager", "compile"], "tensorflow": ["graph", "xla"]}
CASES = ["mlp", "ft_transformer", "transformer_text", "cnn_image"]
# case → (bundled spec, its dataset name, the network's input as the JSON states it)
SPEC_CASES = {
    "transformer_text": (
        "rotten_tomatoes",
        "rotten-tomatoes",
        {"kind": "text", "row_shape": [64], "dtype": "int64"},
    ),
    "cnn_image": (
        "mnist_5k",
        "mnist-5k",
        {"kind": "array", "row_shape": [28, 28, 1], "dtype": "float32"},
    ),
}


def _graphs(inductor_cache: dict) -> int:
    """Graphs Inductor compiled or loaded from its cache."""
    return inductor_cache["fxgraph_cache_hits"] + inductor_cache["fxgraph_cache_misses"]


def _case(name: str, quick: bool) -> compile_bench.Case:
    return next(c for c in compile_bench.cases(TrainingSpec(), quick) if c.name == name)


def test_the_cases_in_order():
    assert [case.name for case in compile_bench.cases(TrainingSpec(), quick=False)] == CASES


def test_the_full_size_ft_transformer_is_the_one_compilers_matter_for():
    case = _case("ft_transformer", quick=False)
    params = case.training.model.params
    assert case.training.model.family == "ft_transformer"
    assert (params.d_token, params.n_blocks, params.n_heads) == (192, 3, 8)
    assert case.training.batch_size == 1024 and case.peak_rss and case.spec is None


def test_the_ft_transformer_trains_whole_batches_as_far_as_the_split_has_them():
    case = _case("ft_transformer", quick=False)
    batch = case.training.batch_size
    assert compile_bench.case_rows(case, 100 * batch) == case.steps * batch
    assert compile_bench.case_rows(case, 2 * batch + 7) == 2 * batch
    with pytest.raises(TandemError, match="--rows"):
        compile_bench.case_rows(case, batch - 1)


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("name", list(SPEC_CASES))
def test_the_text_and_image_cases_train_their_bundled_specs_network(name, quick):
    case = _case(name, quick)
    spec = load_spec(spec_location(SPEC_CASES[name][0])).spec
    assert case.spec == SPEC_CASES[name][0] and case.peak_rss is not quick
    assert case.training == spec.training  # family, params, batch size, optimizer


@pytest.mark.parametrize("name", list(SPEC_CASES))
def test_quick_shrinks_the_text_and_image_cases_yet_fills_the_largest_latency_batch(name):
    full, quick = _case(name, quick=False), _case(name, quick=True)
    assert quick.steps < full.steps and quick.latency_calls < full.latency_calls
    rows = compile_bench.case_rows(quick, 10 * full.steps * full.training.batch_size)
    assert rows >= max(compile_bench.LATENCY_BATCHES)


@pytest.mark.parametrize(
    "network_input",
    [NetworkInput.tabular(7), NetworkInput.array((28, 28, 1)), NetworkInput.text(8000, 64)],
)
def test_a_network_input_reaches_the_fresh_process_unchanged(network_input):
    text = compile_training.input_to_json(network_input)
    assert compile_training.input_from_json(text) == network_input


def test_the_trainers_refuse_arrays_the_network_does_not_read():
    training = load_spec(spec_location("rotten_tomatoes")).spec.training
    ids_as_floats = np.zeros((8, 64), dtype=np.float32)
    with pytest.raises(ValueError, match="int64"):
        compile_training.torch_trainers(
            training, NetworkInput.text(100, 64), ids_as_floats, np.zeros(8, np.int64), 3, ["eager"]
        )


def test_the_worker_trains_a_text_network_on_token_ids(tmp_path):
    training = load_spec(spec_location("rotten_tomatoes")).spec.training
    training = training.model_copy(update={"batch_size": 4})
    network_input = NetworkInput.text(vocabulary_size=50, max_length=8)
    ids = np.random.default_rng(0).integers(3, 50, size=(8, 8))
    ids[:, 0], ids[:, 6:] = 2, 0  # [CLS] first, [PAD] after the text
    np.savez(tmp_path / "data.npz", x=ids, y=np.arange(8) % 3)
    (tmp_path / "training.json").write_text(training.model_dump_json())
    (tmp_path / "input.json").write_text(compile_training.input_to_json(network_input))
    out = tmp_path / "out.json"
    arguments = [
        *("--framework", "pytorch", "--mode", "eager", "--classes", "3"),
        *("--training", str(tmp_path / "training.json"), "--input", str(tmp_path / "input.json")),
        *("--data", str(tmp_path / "data.npz"), "--out", str(out)),
    ]
    assert compile_worker.main(arguments) == 0
    result = json.loads(out.read_text())
    assert (result["framework"], result["mode"], result["steps"]) == ("pytorch", "eager", 3)
    assert result["peak_rss_mb"] > 0


def test_the_worker_refuses_a_mode_of_the_other_framework(tmp_path):
    with pytest.raises(SystemExit):
        compile_worker.main(
            [
                *("--framework", "pytorch", "--mode", "xla", "--classes", "3"),
                *("--training", str(tmp_path / "t.json"), "--input", str(tmp_path / "i.json")),
                *("--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "out.json")),
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
def test_a_quick_run_compares_the_modes_of_every_case_per_framework(quick_document):
    assert quick_document["benchmark"] == "compile" and quick_document["arguments"]["quick"]
    cases = quick_document["result"]["cases"]
    assert list(cases) == CASES
    assert cases["ft_transformer"]["model"].startswith("ft_transformer(d_token=32, n_blocks=1")
    for case in cases.values():
        for framework, modes in MODES.items():
            found = case[framework]
            assert found["variants"] == modes
            assert list(found["train_step_ms"]) == modes
            assert list(found["train_samples_per_s"]) == modes
            assert len(found["train_samples_per_s_ratio"]["values"]) == 1  # one quick round
            assert list(found["compile_s"]["first_train_step_s"]) == modes
            assert set(found["latency"]) == {"batch_1", "batch_256"}
            assert {"p50_ratio", f"{modes[1]}_p99_ms"} <= set(found["latency"]["batch_256"])
        assert _graphs(case["pytorch"]["inductor_cache"]) > 0


@pytest.mark.slow
def test_a_quick_run_trains_the_text_and_image_cases_on_their_specs_data(quick_document):
    result = quick_document["result"]
    cases = result["cases"]
    assert cases["mlp"]["input"]["kind"] == "tabular"
    assert cases["mlp"]["spec"] == cases["ft_transformer"]["spec"] == result["spec"]
    for name, (_, dataset_name, network_input) in SPEC_CASES.items():
        case = cases[name]
        assert (case["spec"], case["input"]) == (dataset_name, network_input)
        assert case["train_rows"] == compile_bench.QUICK_SPEC_STEPS * case["batch_size"]
    assert cases["transformer_text"]["model"].startswith("transformer(d_model=64, n_blocks=2")
    assert cases["cnn_image"]["model"].startswith("cnn(channels=[16, 32, 64]")


@pytest.mark.slow
def test_a_quick_run_has_the_training_peak_rss_per_framework_and_mode(quick_document):
    """A quick run measures the fresh-process RSS on the ft_transformer case (a full run on
    every case but mlp)."""
    cases = quick_document["result"]["cases"]
    for name in ("mlp", *SPEC_CASES):
        assert "training_rss" not in cases[name]["pytorch"]
    case = cases["ft_transformer"]
    for framework, modes in MODES.items():
        rss = case[framework]["training_rss"]
        assert list(rss) == modes
        for mode, found in rss.items():
            assert (found["framework"], found["mode"]) == (framework, mode)
            assert found["steps"] == 1 + case["train_rows"] // case["batch_size"]
            assert 0 < found["start_rss_mb"] <= found["peak_rss_mb"]
            assert found["increase_mb"] == pytest.approx(
                found["peak_rss_mb"] - found["start_rss_mb"]
            )
    torch_rss = case["pytorch"]["training_rss"]
    assert _graphs(torch_rss["eager"]["inductor_cache"]) == 0
    assert _graphs(torch_rss["compile"]["inductor_cache"]) > 0


@pytest.mark.slow
def test_a_quick_run_renders_every_table(quick_document):
    console = Console(record=True, width=200)
    compile_bench.render(quick_document["result"], console)
    text = console.export_text()
    assert "Compile time" in text
    for name in CASES:
        assert f"Compile modes, {name}" in text
    assert "Peak RSS of training, ft_transformer" in text  # the quick run's only RSS case
