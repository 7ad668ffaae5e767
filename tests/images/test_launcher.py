"""The compiled pipelines' tasks, run inside the built images by `tests.images.launcher` (a
stand-in for KFP's driver and launcher) with the IRs' own commands.

The PyTorch pipeline runs ingest → train (TorchX/torchrun, 2 ranks) → evaluate and register in
the torch image; the whole TFX pipeline (ExampleGen on the snapshot that ingest published, to the
Pusher and the registrar) then runs in the tfx image. Both pipelines are compiled as `tandem
compile` compiles them for a cluster: every location under the runs volume's mount path, here a
fresh host folder bind-mounted there, which also holds the steps' embedded MLflow store (no
MLFLOW_TRACKING_URI). The images are the session's `make images` (tests/images/build.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from components.common.frameworks import TENSORFLOW
from components.spec import LoadedSpec, default_spec_path, load_spec
from tandem.deploy.cluster_config import DEFAULT as CLUSTER
from tests.images.containers import make_writable
from tests.images.launcher import (
    Artifact,
    Launcher,
    RunsMount,
    TaskFailed,
    TaskOutputs,
    run_tasks,
)

RUNS = CLUSTER.runs_mount_path
SPLITS = ("train", "eval", "test")
TASK_TIMEOUT_S = 300.0
TFX_GOLDEN = Path(__file__).parents[1] / "pipelines" / "golden" / "tfx_pipeline_penguins.json"
# The image an IR names when only its ExecutorInput is looked at (nothing runs).
UNUSED_IMAGE = "localhost/tandem-unused:ir"


def quick_spec() -> LoadedSpec:
    """The penguins spec trained for 2 epochs, 10 latency calls; its workers stay the bundled
    spec's (one node, nproc_per_node 2)."""
    loaded = load_spec(default_spec_path())
    spec = loaded.spec
    spec = spec.model_copy(
        update={
            "training": spec.training.model_copy(update={"epochs": 2}),
            "evaluation": spec.evaluation.model_copy(update={"latency_calls": 10}),
        }
    )
    return LoadedSpec(spec=spec, path=loaded.path)


def quick_spec_json() -> str:
    """`quick_spec` as the PyTorch pipeline's `spec_yaml` run parameter."""
    from pipelines.torch.pipeline import spec_json

    return spec_json(quick_spec().spec)


def compiled_torch_ir(directory: Path, image: str) -> dict:
    from pipelines.torch.compiler import compile_pipeline

    loaded = load_spec(default_spec_path())
    path = compile_pipeline(loaded, directory / "torch.yaml", image, RUNS)
    return yaml.safe_load(path.read_text())


def torch_launcher(ir: dict, image: str, runs: Path, run_id: str, **parameters) -> Launcher:
    return Launcher(
        ir,
        image,
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
    return compiled_torch_ir(tmp_path_factory.mktemp("torch-ir"), UNUSED_IMAGE)


@pytest.fixture(scope="module")
def built_torch_ir(built_images, tmp_path_factory) -> dict:
    return compiled_torch_ir(tmp_path_factory.mktemp("built-torch-ir"), built_images["torch"])


@pytest.fixture(scope="module")
def torch_run(built_images, built_torch_ir, runs_folder) -> dict[str, TaskOutputs]:
    """The compiled PyTorch pipeline's container tasks, in DAG order, in the torch image (push
    sits in the `blessed` condition, a sub-DAG: not run)."""
    image = built_images["torch"]
    return run_tasks(torch_launcher(built_torch_ir, image, runs_folder, "run-1"))


@pytest.fixture(scope="module")
def tfx_run(built_images, torch_run, runs_folder, tmp_path_factory) -> dict[str, TaskOutputs]:
    """Every container task of the compiled TFX pipeline, in DAG order, in the tfx image, on the
    snapshot the torch ingest published (`<runs>/snapshots/penguins-current`)."""
    from pipelines.tfx.kubeflow_v2_runner import compile_kubeflow_v2

    image = built_images["tfx"]
    output = tmp_path_factory.mktemp("tfx-ir") / "tfx.json"
    # as `tandem compile` does: tandem's output directory (the snapshots) is the runs volume
    path = compile_kubeflow_v2(quick_spec(), output, image, f"{RUNS}/tfx-root", runs_dir=RUNS)
    root = f"{RUNS}/tfx-root/run-1"
    mount = RunsMount(runs_folder, RUNS)
    launcher = Launcher(json.loads(path.read_text()), image, mount, root, timeout_s=TASK_TIMEOUT_S)
    return run_tasks(launcher)


def _host(runs: Path, artifact: Artifact) -> Path:
    return RunsMount(runs, RUNS).host_path(artifact.uri)


def _mlflow_client(runs: Path):
    """A client of the steps' embedded MLflow store in the runs folder."""
    from mlflow.tracking import MlflowClient

    from components.common.tracking import tracking_uri

    return MlflowClient(tracking_uri(runs))


def _mlflow_steps(runs: Path) -> dict:
    from components.common.tracking import TAG_STEP

    client = _mlflow_client(runs)
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

    launcher = torch_launcher(torch_ir, UNUSED_IMAGE, tmp_path, "run-1")
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
        json.loads(TFX_GOLDEN.read_text()), UNUSED_IMAGE, RunsMount(tmp_path, RUNS), f"{RUNS}/tfx/r"
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
def test_a_failing_task_names_itself_its_exit_code_and_its_log(
    built_images, built_torch_ir, runs_folder
) -> None:
    """A spec the step refuses: the error names the task, the code and the log holding why."""
    image = built_images["torch"]
    launcher = torch_launcher(
        built_torch_ir, image, runs_folder, "broken", spec_yaml="name: [unclosed"
    )
    with pytest.raises(TaskFailed, match=r"task 'ingest-snapshot' exited with code 1; log: ") as e:
        launcher.run("ingest-snapshot")
    log = runs_folder / "pipeline-root" / "broken" / "ingest-snapshot.log"
    assert str(log) in str(e.value)
    assert "Traceback" in log.read_text()


# --- the TFX pipeline in the tfx image ---------------------------------------------------------


@pytest.mark.images
@pytest.mark.slow
def test_tfx_example_gen_publishes_the_snapshot_for_statistics_gen(
    tfx_run, torch_run, runs_folder
) -> None:
    """ExampleGen reads `<runs>/snapshots/penguins-current` (the torch ingest made it) and
    writes each split as Parquet examples of list columns; StatisticsGen, handed that artifact
    (TFX's own type schema and split metadata), computes every split's statistics."""
    examples = tfx_run["FileBasedExampleGen"].artifacts["examples"]
    assert json.loads(examples.metadata["split_names"]) == list(SPLITS)
    snapshot = _host(runs_folder, torch_run["ingest-snapshot"].artifacts["snapshot"])
    for split in SPLITS:
        published = pq.read_table(_host(runs_folder, examples) / f"Split-{split}")
        assert published.num_rows == pq.read_table(snapshot / split).num_rows
        assert str(published.schema.field("species").type).startswith("large_list")
    statistics = tfx_run["StatisticsGen"].artifacts["statistics"]
    assert json.loads(statistics.metadata["split_names"]) == list(SPLITS)
    for split in SPLITS:
        assert (_host(runs_folder, statistics) / f"Split-{split}" / "FeatureStats.pb").is_file()


@pytest.mark.images
@pytest.mark.slow
def test_the_whole_tfx_pipeline_runs_to_the_registry(tfx_run, runs_folder) -> None:
    """Transform → Trainer → the shared evaluator → Pusher → the registrar, each in the tfx
    image: the SavedModel is judged, pushed and registered in MLflow (its custom artifact type
    imported by name, as TFX's Kubeflow entrypoint does)."""
    assert {"Transform", "Trainer", "SharedEvaluator", "Pusher", "ModelRegistrar"} <= set(tfx_run)
    model = _host(runs_folder, tfx_run["Trainer"].artifacts["model"])
    assert list(model.rglob("saved_model.pb")), "the Trainer exported no SavedModel"
    blessing = tfx_run["SharedEvaluator"].artifacts["blessing"].metadata
    assert blessing["blessed"] == 1
    pushed = tfx_run["Pusher"].artifacts["pushed_model"].metadata
    assert pushed["pushed"] == 1
    registered = tfx_run["ModelRegistrar"].artifacts["registered"].metadata
    client = _mlflow_client(runs_folder)
    name = TENSORFLOW.registered_model_name("penguins")
    version = client.get_model_version(name, str(int(registered["model_version"])))
    assert version.status == "READY"
