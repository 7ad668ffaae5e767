"""The compiled pipelines' tasks, run inside the built images by `tests.images.launcher` (a
stand-in for KFP's driver and launcher) with the IRs' own commands.

The PyTorch pipeline runs ingest → train (TorchX/torchrun, 2 ranks) → evaluate and register in
the torch image; the TFX pipeline's ExampleGen then reads the snapshot that ingest published, in
the tfx image. Both pipelines are compiled as `tandem compile` compiles them for a cluster: every
location under the runs volume's mount path, here a fresh host folder bind-mounted there, which
also holds the steps' embedded MLflow store (no MLFLOW_TRACKING_URI).

The images are buildah's `localhost/tandem-torch:test` and `localhost/tandem-tfx:test`, or what
TANDEM_TEST_TORCH_IMAGE and TANDEM_TEST_TFX_IMAGE name; without buildah or an image, its tests
are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from components.spec import default_spec_path, load_spec
from tandem.deploy.cluster_config import DEFAULT as CLUSTER
from tests.images.launcher import (
    Artifact,
    Launcher,
    RunsMount,
    TaskFailed,
    TaskOutputs,
    make_writable,
    run_tasks,
)

TORCH_IMAGE = os.environ.get("TANDEM_TEST_TORCH_IMAGE", "localhost/tandem-torch:test")
TFX_IMAGE = os.environ.get("TANDEM_TEST_TFX_IMAGE", "localhost/tandem-tfx:test")
RUNS = CLUSTER.runs_mount_path
SPLITS = ("train", "eval", "test")
TASK_TIMEOUT_S = 300.0
TFX_GOLDEN = Path(__file__).parents[1] / "pipelines" / "golden" / "tfx_pipeline_penguins.json"


def require_image(image: str) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed: these tests run the steps in the built images")
    inspect = ["buildah", "inspect", "--type", "image", image]
    if subprocess.run(inspect, capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{image} is not in buildah's storage: build the image first")


def quick_spec_json() -> str:
    """The penguins spec as the `spec_yaml` run parameter: 2 epochs, 10 latency calls; its
    workers stay the bundled spec's (one node, nproc_per_node 2)."""
    from pipelines.torch.pipeline import spec_json

    spec = load_spec(default_spec_path()).spec
    return spec_json(
        spec.model_copy(
            update={
                "training": spec.training.model_copy(update={"epochs": 2}),
                "evaluation": spec.evaluation.model_copy(update={"latency_calls": 10}),
            }
        )
    )


def compiled_torch_ir(directory: Path) -> dict:
    from pipelines.torch.compiler import compile_pipeline

    loaded = load_spec(default_spec_path())
    path = compile_pipeline(loaded, directory / "torch.yaml", TORCH_IMAGE, RUNS)
    return yaml.safe_load(path.read_text())


def torch_launcher(ir: dict, runs: Path, run_id: str, **parameters) -> Launcher:
    return Launcher(
        ir,
        TORCH_IMAGE,
        RunsMount(runs, RUNS),
        f"{RUNS}/pipeline-root/{run_id}",
        parameters={"spec_yaml": quick_spec_json(), **parameters},
        timeout_s=TASK_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("image-runs") / "runs"
    runs.mkdir()
    make_writable(runs)
    return runs


@pytest.fixture(scope="module")
def torch_ir(tmp_path_factory) -> dict:
    return compiled_torch_ir(tmp_path_factory.mktemp("torch-ir"))


@pytest.fixture(scope="module")
def torch_run(torch_ir, runs_folder) -> dict[str, TaskOutputs]:
    """The compiled PyTorch pipeline's container tasks, in DAG order, in the torch image (push
    sits in the `blessed` condition, a sub-DAG: not run)."""
    require_image(TORCH_IMAGE)
    return run_tasks(torch_launcher(torch_ir, runs_folder, "run-1"))


def _host(runs: Path, artifact: Artifact) -> Path:
    return RunsMount(runs, RUNS).host_path(artifact.uri)


def _mlflow_steps(runs: Path) -> dict:
    from mlflow.tracking import MlflowClient

    from components.common.tracking import SQLITE_FILE, TAG_STEP

    client = MlflowClient(f"sqlite:///{runs / SQLITE_FILE}")
    experiment = client.get_experiment_by_name("tandem-penguins")
    runs_found = client.search_runs([experiment.experiment_id])
    return {run.data.tags.get(TAG_STEP): run for run in runs_found}


# --- the ExecutorInput, against kfp.local's (no image needed) --------------------------------


@pytest.mark.parametrize("task", ["train-model", "judge-and-register"])
def test_executor_input_is_what_kfp_local_builds(task, torch_ir, tmp_path) -> None:
    """Parameters (given, run parameters, constants, component defaults) and artifacts as
    kfp.local's construct_executor_input lays them out for the same arguments."""
    from google.protobuf import json_format
    from kfp import dsl
    from kfp.local.executor_input_utils import construct_executor_input, executor_input_to_dict
    from kfp.pipeline_spec import pipeline_spec_pb2

    launcher = torch_launcher(torch_ir, tmp_path, "run-1")
    produced = {
        "ingest-snapshot": ("snapshot", "system.Dataset", {"fingerprint": "f"}),
        "train-model": ("model", "system.Model", {"world_size": 2.0}),
    }
    upstream = {
        producer: TaskOutputs(
            producer,
            {},
            {
                name: Artifact(
                    name,
                    {"schemaTitle": title, "schemaVersion": "0.0.1"},
                    f"{RUNS}/pipeline-root/run-1/{producer}/{name}",
                    metadata,
                )
            },
            tmp_path / f"{producer}.log",
            0.0,
        )
        for producer, (name, title, metadata) in produced.items()
    }
    ours = launcher.executor_input(task, upstream)

    artifact_classes = {"system.Dataset": dsl.Dataset, "system.Model": dsl.Model}
    arguments = {
        name: artifact_classes[artifact.type["schemaTitle"]](
            name=artifact.name, uri=artifact.uri, metadata=artifact.metadata
        )
        for outputs in upstream.values()
        for name, artifact in outputs.artifacts.items()
        if name in launcher.tasks[task]["inputs"]["artifacts"]
    }
    parameters = launcher.tasks[task]["inputs"]["parameters"]
    run_parameters = launcher.run_parameters()
    for name, spec in parameters.items():
        if "componentInputParameter" in spec:
            arguments[name] = run_parameters[spec["componentInputParameter"]]
        else:
            arguments[name] = spec["runtimeValue"]["constant"]
    component = json_format.ParseDict(launcher.component(task), pipeline_spec_pb2.ComponentSpec())
    theirs = executor_input_to_dict(
        construct_executor_input(component, arguments, launcher.task_root(task), False),
        component,
    )
    assert ours == theirs
    assert ours["inputs"]["parameterValues"]["spec_yaml"] == quick_spec_json()


def test_legacy_parameters_are_filled_for_tfx_executors(tmp_path) -> None:
    """Spec 2.0.0 (KubeflowV2DagRunner): `constantValue` constants of legacy-typed inputs reach
    the executor in `inputs.parameters`, where TFX's run_executor reads them, and as values."""
    launcher = Launcher(
        json.loads(TFX_GOLDEN.read_text()), TFX_IMAGE, RunsMount(tmp_path, RUNS), f"{RUNS}/tfx/r"
    )
    inputs = launcher.executor_input("FileBasedExampleGen", {})["inputs"]
    assert inputs["parameters"]["output_data_format"] == {"intValue": "15"}
    assert inputs["parameterValues"]["output_data_format"] == 15
    base = inputs["parameters"]["input_base"]["stringValue"]
    assert base.endswith("/runs/snapshots/penguins-current")
    assert inputs["parameterValues"]["input_base"] == base


# --- the PyTorch pipeline in the torch image ---------------------------------------------------


@pytest.mark.images
@pytest.mark.slow
def test_ingest_publishes_the_snapshot_and_points_current_at_it(torch_run, runs_folder) -> None:
    snapshot = torch_run["ingest-snapshot"].artifacts["snapshot"]
    directory = _host(runs_folder, snapshot)
    for split in SPLITS:
        assert pq.read_table(directory / split).num_rows > 0
    assert snapshot.metadata["rows_accepted"] == 333
    current = runs_folder / "snapshots" / "penguins-current"
    manifest = json.loads((current / "manifest.json").read_text())
    assert manifest["fingerprint"] == snapshot.metadata["fingerprint"]


@pytest.mark.images
@pytest.mark.slow
def test_train_runs_two_ranks_under_torchx_and_exports_the_model(torch_run, runs_folder) -> None:
    model = torch_run["train-model"].artifacts["model"]
    assert any(_host(runs_folder, model).rglob("*")), "the model directory is empty"
    assert model.metadata["world_size"] == 2
    assert model.metadata["scheduler"] == "local_cwd"
    assert model.metadata["attempts"] == 1
    train = _mlflow_steps(runs_folder)["train"]
    assert train.info.run_id == model.metadata["mlflow_run_id"]
    assert train.data.params["world_size"] == "2"
    assert train.data.params["epochs"] == "2"


@pytest.mark.images
@pytest.mark.slow
def test_judge_logs_the_metrics_and_registers_the_model(torch_run, runs_folder) -> None:
    judged = torch_run["judge-and-register"]
    metrics = judged.artifacts["metrics"].metadata
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert "macro_f1" in metrics
    assert judged.parameters["model_version"] == "1"
    assert isinstance(judged.parameters["blessed"], bool)
    blessing = _host(runs_folder, judged.artifacts["evaluation"]) / "blessing.json"
    assert json.loads(blessing.read_text())["blessed"] == judged.parameters["blessed"]
    evaluate = _mlflow_steps(runs_folder)["evaluate"]
    assert evaluate.data.metrics["accuracy"] == pytest.approx(metrics["accuracy"])


@pytest.mark.images
@pytest.mark.slow
def test_a_failing_task_names_itself_its_exit_code_and_its_log(torch_ir, runs_folder) -> None:
    """A spec the step refuses: the error names the task, the code and the log holding why."""
    require_image(TORCH_IMAGE)
    launcher = torch_launcher(torch_ir, runs_folder, "broken", spec_yaml="name: [unclosed")
    with pytest.raises(TaskFailed, match=r"task 'ingest-snapshot' exited with code 1; log: ") as e:
        launcher.run("ingest-snapshot")
    log = runs_folder / "pipeline-root" / "broken" / "ingest-snapshot.log"
    assert str(log) in str(e.value)
    assert "Traceback" in log.read_text()


# --- the TFX pipeline's ExampleGen in the tfx image --------------------------------------------


@pytest.mark.images
@pytest.mark.slow
def test_tfx_example_gen_publishes_the_snapshot_for_statistics_gen(
    torch_run, runs_folder, tmp_path
) -> None:
    """ExampleGen reads `<runs>/snapshots/penguins-current` (the torch ingest made it) and
    writes each split as Parquet examples of list columns; StatisticsGen, handed that artifact
    (TFX's own type schema and split metadata), computes every split's statistics."""
    from pipelines.tfx.kubeflow_v2_runner import compile_kubeflow_v2

    require_image(TFX_IMAGE)
    loaded = load_spec(default_spec_path())
    # as `tandem compile` does: tandem's output directory (the snapshots) is the runs volume
    path = compile_kubeflow_v2(
        loaded, tmp_path / "tfx.json", TFX_IMAGE, f"{RUNS}/tfx-root", runs_dir=RUNS
    )
    launcher = Launcher(
        json.loads(path.read_text()),
        TFX_IMAGE,
        RunsMount(runs_folder, RUNS),
        f"{RUNS}/tfx-root/run-1",
        timeout_s=TASK_TIMEOUT_S,
    )
    done = run_tasks(
        launcher, exclude=set(launcher.tasks) - {"FileBasedExampleGen", "StatisticsGen"}
    )
    examples = done["FileBasedExampleGen"].artifacts["examples"]
    assert json.loads(examples.metadata["split_names"]) == list(SPLITS)
    snapshot = _host(runs_folder, torch_run["ingest-snapshot"].artifacts["snapshot"])
    for split in SPLITS:
        published = pq.read_table(_host(runs_folder, examples) / f"Split-{split}")
        assert published.num_rows == pq.read_table(snapshot / split).num_rows
        assert str(published.schema.field("species").type).startswith("large_list")
    statistics = done["StatisticsGen"].artifacts["statistics"]
    assert json.loads(statistics.metadata["split_names"]) == list(SPLITS)
    for split in SPLITS:
        assert (_host(runs_folder, statistics) / f"Split-{split}" / "FeatureStats.pb").is_file()
