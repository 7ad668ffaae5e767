"""The TFX pipeline: real tiny runs with LocalDagRunner on the penguins snapshot, and its
Kubeflow Pipelines v2 IR against a golden file.

Regenerate the golden file after an intended change to the pipeline with `make golden` (review
the diff).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.common.errors import TandemError
from components.ingest.run import run_ingest
from components.spec import LoadedSpec, default_spec_path, load_spec

GOLDEN = Path(__file__).parent / "golden" / "tfx_pipeline_penguins.json"
GOLDEN_IMAGE = "registry.example/tandem-tensorflow:golden"
GOLDEN_ROOT = "gs://tandem-golden/pipeline-root"
IMAGE_PLACEHOLDER = "<IMAGE>"
NODES = [
    "FileBasedExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "ExampleValidationGate",
    "Transform",
    "Trainer",
    "SharedEvaluator",
    "ModelRegistrar",
    "Pusher",
]


def test_the_runner_module_imports_no_tensorflow() -> None:
    """The CLI imports the runner at start-up; TFX and TensorFlow load only when a run starts."""
    code = (
        "import sys, pipelines.tfx.local_runner; "
        "sys.exit(sorted({'tfx', 'tensorflow'} & set(sys.modules)) != [])"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def tiny_spec(epochs: int, thresholds: dict[str, float]) -> LoadedSpec:
    """The penguins spec, trained briefly, with the given evaluation thresholds."""
    loaded = load_spec(default_spec_path())
    spec = loaded.spec
    spec = spec.model_copy(
        update={
            "training": spec.training.model_copy(update={"epochs": epochs}),
            "evaluation": spec.evaluation.model_copy(
                update={"thresholds": thresholds, "latency_calls": 10}
            ),
        }
    )
    return LoadedSpec(spec=spec, path=loaded.path)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same pipeline run twice in one output dir: the second run should be all cache hits."""
    from pipelines.tfx.local_runner import run_local

    output = tmp_path_factory.mktemp("tfx-e2e")
    loaded = tiny_spec(epochs=2, thresholds={"accuracy": 0.5})
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        first = run_local(loaded, output)
        second = run_local(loaded, output)
    return output, first, second


@pytest.mark.e2e
def test_every_component_completes_and_the_blessed_model_is_pushed(two_runs) -> None:
    from components.common.frameworks import TENSORFLOW
    from pipelines.tfx.local_runner import METADATA_FILE, SERVING_DIR

    output, first, _ = two_runs

    assert first.node_states == dict.fromkeys(NODES, "COMPLETE")
    assert first.blessed
    assert first.blessing["blessed"] is True
    assert first.model_version == "1"
    pushed = first.pushed_model_dir
    assert pushed is not None
    assert pushed.parent == TENSORFLOW.local_root(output, "penguins") / SERVING_DIR
    assert pushed.name.isdigit()  # a versioned directory
    assert (pushed / "saved_model.pb").exists()
    assert (TENSORFLOW.local_root(output, "penguins") / METADATA_FILE).exists()


@pytest.mark.e2e
def test_tensorboard_logs_share_the_log_root_with_pytorch(two_runs) -> None:
    output, _, _ = two_runs
    assert list((output / "logs" / "tensorflow").rglob("events.out.tfevents.*"))


@pytest.mark.e2e
def test_mlflow_parent_run_nests_ingest_train_evaluate_and_register(two_runs) -> None:
    from mlflow.tracking import MlflowClient

    from components.common.tracking import (
        TAG_FINGERPRINT,
        TAG_FRAMEWORK,
        TAG_STEP,
        experiment_name,
        tracking_uri,
    )

    output, first, _ = two_runs
    client = MlflowClient(tracking_uri(output))
    parent = client.get_run(first.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[TAG_FRAMEWORK] == "tensorflow"
    assert parent.data.tags[TAG_FINGERPRINT] == first.fingerprint
    assert parent.data.metrics["pipeline_wall_s"] == pytest.approx(first.pipeline_wall_s)
    experiment = client.get_experiment_by_name(experiment_name("penguins"))
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{first.mlflow_run_id}'"
    )
    steps = {run.data.tags[TAG_STEP]: run for run in children}
    assert sorted(steps) == ["evaluate", "ingest", "register", "train"]
    version = client.get_model_version("penguins-tensorflow", first.model_version)
    assert version.run_id == steps["register"].info.run_id
    champion = client.get_model_version_by_alias("penguins-tensorflow", "champion")
    assert str(champion.version) == first.model_version


@pytest.mark.e2e
def test_second_identical_run_hits_the_cache(two_runs) -> None:
    _, first, second = two_runs

    assert second.node_states == dict.fromkeys(NODES, "CACHED")
    assert sorted(second.cached_nodes) == sorted(NODES)
    assert second.pushed_model_dir == first.pushed_model_dir
    assert second.model_version == first.model_version
    assert second.mlflow_run_id != first.mlflow_run_id


def _drift(snapshot: Path, destination: Path) -> Path:
    """A copy of the snapshot whose eval split has an unknown island and a text-typed numeric
    column, and whose test split lost the `sex` column."""
    shutil.copytree(snapshot, destination)
    for path in (destination / "eval").glob("*.parquet"):
        table = pq.read_table(path)
        island = table.schema.get_field_index("island")
        table = table.set_column(island, "island", pa.array(["Atlantis"] * table.num_rows))
        mass = table.schema.get_field_index("body_mass_g")
        table = table.set_column(mass, "body_mass_g", pc.cast(table["body_mass_g"], pa.string()))
        pq.write_table(table, path)
    for path in (destination / "test").glob("*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns(["sex"]), path)
    return destination


@pytest.mark.e2e
def test_anomalies_stop_the_run_with_a_readable_list(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    from components.common.frameworks import TENSORFLOW
    from components.common.tracking import TAG_FRAMEWORK, tracking_uri
    from pipelines.tfx.local_runner import METADATA_FILE, run_local
    from pipelines.tfx.run_record import latest_run

    loaded = tiny_spec(epochs=2, thresholds={"accuracy": 0.5})
    snapshot = run_ingest(loaded, tmp_path / "ingest", track=False).snapshot_dir
    drifted = _drift(snapshot, tmp_path / "drifted")

    with pytest.raises(TandemError) as raised:
        run_local(loaded, tmp_path, snapshot_dir=drifted)

    message = str(raised.value)
    assert "3 anomalies" in message
    assert "eval: island: Unexpected string values" in message
    assert "Atlantis" in message
    assert "eval: body_mass_g: Unexpected data type" in message
    assert "test: sex: Column dropped" in message
    states = {
        node: record.state
        for node, record in latest_run(
            TENSORFLOW.local_root(tmp_path, "penguins") / METADATA_FILE,
            TENSORFLOW.pipeline_name("penguins"),
        ).items()
    }
    assert states["ExampleValidator"] == "COMPLETE"
    assert states["ExampleValidationGate"] == "FAILED"
    assert "Transform" not in states
    client = MlflowClient(tracking_uri(tmp_path))
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("tandem-penguins").experiment_id],
        f"tags.`{TAG_FRAMEWORK}` = 'tensorflow'",
    )
    assert parent.info.status == "FAILED"


@pytest.mark.e2e
def test_a_model_that_is_not_blessed_is_not_pushed(tmp_path) -> None:
    from components.common.frameworks import TENSORFLOW
    from pipelines.tfx.local_runner import SERVING_DIR, run_local

    result = run_local(
        tiny_spec(epochs=1, thresholds={"accuracy": 0.999, "log_loss": 1e-6}), tmp_path
    )

    assert result.node_states["Pusher"] == "COMPLETE"
    assert not result.blessed
    assert result.blessing["blessed"] is False
    assert result.pushed_model_dir is None
    serving = TENSORFLOW.local_root(tmp_path, "penguins") / SERVING_DIR
    assert not serving.exists() or not any(serving.iterdir())


def _table_with_zeros(destination: Path) -> Path:
    """Penguins with a column that is 0.0 in every row and one that is 0.0 in two rows of three."""
    import pyarrow.csv as pacsv

    from tests.conftest import PENGUINS_CSV

    table = pacsv.read_csv(PENGUINS_CSV)
    depth = table["bill_depth_mm"].to_pylist()
    mostly_zero = [d if i % 3 == 0 else 0.0 for i, d in enumerate(depth)]
    table = table.append_column("always_zero", pa.array([0.0] * table.num_rows))
    table = table.append_column("mostly_zero", pa.array(mostly_zero, pa.float64()))
    pacsv.write_csv(table, destination)
    return destination


@pytest.mark.e2e
def test_zeros_reach_the_tensorflow_side_as_zeros(tmp_path, penguins_document, write_spec) -> None:
    """A 0.0 is a value, not a missing one: a column of zeros passes the validation gate, and
    tf.Transform encodes every test row as the PyTorch side's `features.encode` does."""
    import tensorflow_transform as tft

    from components.common.features import encode
    from components.common.frameworks import TENSORFLOW
    from components.tf_trainer.input_probe import transformed_inputs
    from pipelines.tfx.local_runner import METADATA_FILE, run_local
    from pipelines.tfx.run_record import latest_run

    document = {**penguins_document, "name": "zeros"}
    document["dataset"]["features"] += [
        {"name": "always_zero", "type": "numeric"},
        {"name": "mostly_zero", "type": "numeric"},
    ]
    document["training"]["epochs"] = 1
    document["evaluation"]["thresholds"] = {"accuracy": 0.0}
    spec_path = write_spec(document, source=str(_table_with_zeros(tmp_path / "zeros.csv")))

    result = run_local(load_spec(spec_path), tmp_path / "runs")

    assert result.node_states["ExampleValidationGate"] == "COMPLETE"
    records = latest_run(
        TENSORFLOW.local_root(tmp_path / "runs", "zeros") / METADATA_FILE,
        TENSORFLOW.pipeline_name("zeros"),
    )
    transform_graph = records["Transform"].output("transform_graph").uri
    test = pq.read_table(result.snapshot_dir / "test")
    manifest = json.loads((result.snapshot_dir / "manifest.json").read_text())
    assert manifest["statistics"]["numeric"]["always_zero"]["mean"] == 0.0
    tensorflow_inputs = transformed_inputs(tft.TFTransformOutput(transform_graph), test)
    np.testing.assert_allclose(tensorflow_inputs, encode(test, manifest), atol=1e-5)


def compile_golden_ir(output_file: Path) -> dict:
    """Compile the penguins pipeline to KFP v2 IR; return it normalised for comparison: no SDK
    versions or labels, the image as a placeholder (roots and locations are fixed strings)."""
    from pipelines.tfx.kubeflow_v2_runner import compile_kubeflow_v2

    compile_kubeflow_v2(load_spec(default_spec_path()), output_file, GOLDEN_IMAGE, GOLDEN_ROOT)
    return normalise(json.loads(output_file.read_text()))


def normalise(job: dict) -> dict:
    job = json.loads(json.dumps(job).replace(GOLDEN_IMAGE, IMAGE_PLACEHOLDER))
    job.pop("labels", None)
    job["pipelineSpec"].pop("sdkVersion", None)
    return job


def regenerate_golden() -> Path:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        job = compile_golden_ir(Path(scratch) / "pipeline.json")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(job, indent=2, sort_keys=True) + "\n")
    return GOLDEN


def test_kubeflow_v2_ir_matches_the_golden_file(tmp_path, no_network) -> None:
    job = compile_golden_ir(tmp_path / "pipeline.json")

    assert no_network == []
    assert job == json.loads(GOLDEN.read_text()), (
        "the compiled IR changed; if intended, run `make golden` and review the diff"
    )


def test_kubeflow_v2_ir_names_every_component_in_order(tmp_path) -> None:
    job = compile_golden_ir(tmp_path / "pipeline.json")
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]

    assert set(tasks) == set(NODES)
    assert tasks["Transform"]["dependentTasks"] == [
        "ExampleValidationGate",
        "FileBasedExampleGen",
        "SchemaGen",
    ]
    assert set(tasks["ModelRegistrar"]["dependentTasks"]) == {"SharedEvaluator", "Trainer"}
    assert set(tasks["Pusher"]["dependentTasks"]) == {
        "ModelRegistrar",
        "SharedEvaluator",
        "Trainer",
    }
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {IMAGE_PLACEHOLDER}
    classes = {
        name: e["container"]["args"][e["container"]["args"].index("--executor_class_path") + 1]
        for name, e in executors.items()
    }
    assert classes["FileBasedExampleGen_executor"] == (
        "components.ingest.tfx_example_gen.SnapshotExampleGenExecutor"
    )
    assert classes["SharedEvaluator_executor"].startswith("components.evaluate.tfx_component")
    parameters = tasks["Trainer"]["inputs"]["parameters"]
    assert (
        parameters["run_fn"]["runtimeValue"]["constantValue"]["stringValue"]
        == "components.tf_trainer.trainer.run_fn"
    )
    assert "module_file" not in json.dumps(tasks)


if __name__ == "__main__":
    print(f"wrote {regenerate_golden()}")


def test_statistics_gen_sketches_top_k_and_uniques(tmp_path) -> None:
    """TFDV's exact top-k/uniques keeps every distinct string (one per row in the id column), so
    StatisticsGen's memory grew with the rows; the pipeline asks for the bounded sketches."""
    job = compile_golden_ir(tmp_path / "pipeline.json")
    task = job["pipelineSpec"]["root"]["dag"]["tasks"]["StatisticsGen"]
    options = task["inputs"]["parameters"]["stats_options_json"]["runtimeValue"]["constantValue"]
    assert json.loads(options["stringValue"])["_use_sketch_based_topk_uniques"] is True
