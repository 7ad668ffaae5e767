"""The PyTorch pipeline: real tiny runs with kfp.local on penguins (2-rank DDP via TorchX), the
push step, and the compiled KFP v2 YAML against a golden file.

Regenerate the golden file after an intended change to the pipeline with `make golden` (review
the diff).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from components.register.push import push_to_serving
from components.spec import LoadedSpec, Workers, default_spec_path, load_spec

GOLDEN = Path(__file__).parent / "golden" / "torch_pipeline.yaml"
GOLDEN_IMAGE = "registry.example/tandem-pytorch:golden"
IMAGE_PLACEHOLDER = "<IMAGE>"
SPEC_DIR_PLACEHOLDER = "<SPEC_DIR>"
SDK_PLACEHOLDER = "kfp-<VERSION>"
EPOCHS = 2
# Two epochs already classify the penguins' test split perfectly; their log loss stays higher.
UNREACHABLE = {"log_loss": 0.01}
COMPONENTS = {
    "comp-ingest-snapshot",
    "comp-train-model",
    "comp-judge-and-register",
    "comp-push-model",
}


def tiny_spec(
    thresholds: dict[str, float], epochs: int = EPOCHS, workers: Workers | None = None
) -> LoadedSpec:
    """The penguins spec, trained briefly, with the given thresholds (and workers)."""
    loaded = load_spec(default_spec_path())
    spec = loaded.spec
    training = {"epochs": epochs, **({"workers": workers} if workers else {})}
    spec = spec.model_copy(
        update={
            "training": spec.training.model_copy(update=training),
            "evaluation": spec.evaluation.model_copy(
                update={"thresholds": thresholds, "latency_calls": 10}
            ),
        }
    )
    return LoadedSpec(spec=spec, path=loaded.path)


def test_modules_import_without_torch() -> None:
    """The CLI imports the runner at start-up; torch, lightning and TorchX load inside steps."""
    code = (
        "import sys, pipelines.torch.local_runner, pipelines.torch.pipeline; "
        "sys.exit(sorted({'torch', 'lightning', 'torchx', 'mlflow'} & set(sys.modules)) != [])"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- push ---------------------------------------------------------------------------------


def test_push_copies_into_a_versioned_directory_once(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "weights.bin").write_bytes(b"w")
    pushed = push_to_serving(model, tmp_path / "serving", "penguins-pytorch", "3")
    assert pushed == tmp_path / "serving" / "penguins-pytorch" / "3"
    assert (pushed / "sub" / "weights.bin").read_bytes() == b"w"
    assert [p.name for p in pushed.parent.iterdir()] == ["3"]  # no staging copy left
    with pytest.raises(FileExistsError):
        push_to_serving(model, tmp_path / "serving", "penguins-pytorch", "3")


# --- train step ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_failing_launch_is_relaunched_and_reported(tmp_path: Path) -> None:
    """The trainer refuses a directory without a snapshot: every attempt fails fast."""
    from components.spec import spec_to_yaml
    from components.torch_trainer.step import train_in_step

    result = train_in_step(
        spec_to_yaml(tiny_spec({"accuracy": 0.6}).spec),
        tmp_path / "no-snapshot",
        tmp_path / "model",
        tmp_path / "runs",
        tmp_path / "work",
        image="unused",
        max_retries=1,
    )
    assert (result.state, result.attempts, result.scheduler) == ("FAILED", 2, "local_cwd")
    assert not result.succeeded
    assert (tmp_path / "work" / "spec.yaml").is_file()
    assert list((tmp_path / "work" / "torchx-logs").iterdir())


def test_the_step_refuses_an_unknown_multinode_scheduler(tmp_path: Path) -> None:
    from components.common.errors import TandemError
    from components.spec import spec_to_yaml
    from components.torch_trainer.step import train_in_step

    with pytest.raises(TandemError, match="multinode_scheduler 'slurm': expected one of"):
        train_in_step(
            spec_to_yaml(tiny_spec({"accuracy": 0.6}).spec),
            tmp_path / "snapshot",
            tmp_path / "model",
            tmp_path / "runs",
            tmp_path / "work",
            image="unused",
            max_retries=0,
            multinode_scheduler="slurm",
        )
    assert not (tmp_path / "work").exists()


# --- dsl.If under kfp.local -----------------------------------------------------------------


def _gated_pipeline():
    from kfp import dsl

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def flag(value: bool) -> bool:
        return value

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def mark(path: str):
        from pathlib import Path

        Path(path).write_text("ran")

    @dsl.pipeline(name="gated")
    def gated(value: bool, path: str):
        with dsl.If(flag(value=value).output == True):  # noqa: E712
            mark(path=path)

    return gated


def test_local_conditions_run_the_branch_only_when_it_holds(tmp_path: Path) -> None:
    """kfp.local 2.16.1 alone never runs the branch; when it learns to, drop the workaround."""
    from kfp import local

    from pipelines.torch.kfp_local_fixes import local_conditions

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    gated = _gated_pipeline()
    gated(value=True, path=str(tmp_path / "unpatched"))
    with local_conditions():
        gated(value=True, path=str(tmp_path / "true"))
        gated(value=False, path=str(tmp_path / "false"))
    assert not (tmp_path / "unpatched").exists()
    assert (tmp_path / "true").read_text() == "ran"
    assert not (tmp_path / "false").exists()


def test_local_conditions_refuse_other_forms() -> None:
    from kfp.local.io import IOStore

    from pipelines.torch.kfp_local_fixes import evaluate_condition

    with pytest.raises(NotImplementedError):
        evaluate_condition("inputs.parameter_values['pipelinechannel--t-n'] > 1", IOStore())


def test_a_parameter_holding_python3_reaches_the_step_unchanged(tmp_path: Path) -> None:
    """kfp.local 2.16.1 alone rewrites it; when it stops, drop `python_program_only`."""
    from kfp import dsl, local

    from pipelines.torch.kfp_local_fixes import python_program_only

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def echo(text: str, path: str):
        from pathlib import Path

        Path(path).write_text(text)

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    text = "/venv/lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"
    echo(text=text, path=str(tmp_path / "unpatched"))
    with python_program_only():
        echo(text=text, path=str(tmp_path / "patched"))
    assert (tmp_path / "unpatched").read_text() != text
    assert (tmp_path / "patched").read_text() == text


# --- compiled IR --------------------------------------------------------------------------


def compile_normalised(loaded: LoadedSpec, output_file: Path, image: str = GOLDEN_IMAGE) -> str:
    """The compiled YAML with what varies between machines and releases replaced: the image,
    the spec directory (an absolute path) and the KFP SDK version."""
    from kfp import __version__ as kfp_version

    from pipelines.torch.compiler import compile_pipeline
    from tandem.deploy.cluster_config import DEFAULT

    text = compile_pipeline(loaded, output_file, image, DEFAULT.runs_mount_path).read_text()
    return (
        text.replace(image, IMAGE_PLACEHOLDER)
        .replace(str(loaded.path.parent), SPEC_DIR_PLACEHOLDER)
        .replace(f"kfp-{kfp_version}", SDK_PLACEHOLDER)
    )


def regenerate_golden() -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        compiled = compile_normalised(load_spec(default_spec_path()), Path(scratch) / "p.yaml")
    GOLDEN.write_text(compiled)
    return GOLDEN


def test_compiled_yaml_matches_the_golden_file(tmp_path: Path) -> None:
    compiled = compile_normalised(load_spec(default_spec_path()), tmp_path / "p.yaml")
    assert yaml.safe_load(compiled) == yaml.safe_load(GOLDEN.read_text()), (
        "the compiled pipeline changed; if intended, run `make golden` and review the diff"
    )
    assert compiled == GOLDEN.read_text()  # comments (the parameter header) too


def test_compiled_pipeline_wires_four_steps_and_gates_push_on_blessing(tmp_path: Path) -> None:
    ir = yaml.safe_load(compile_normalised(load_spec(default_spec_path()), tmp_path / "p.yaml"))
    assert {name for name in ir["components"] if not name.startswith("comp-condition-")} == (
        COMPONENTS
    )
    tasks = ir["root"]["dag"]["tasks"]
    assert {"ingest-snapshot", "train-model", "judge-and-register"} <= set(tasks)
    judged = tasks["judge-and-register"]["inputs"]["artifacts"]["model"]
    assert judged["taskOutputArtifact"]["producerTask"] == "train-model"
    assert "push-model" not in tasks  # it lives inside the condition
    (condition,) = [task for name, task in tasks.items() if name.startswith("condition-")]
    assert condition["taskInfo"]["name"] == "blessed"
    assert condition["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--judge-and-register-blessed'] == true"
    )
    branch = ir["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert set(branch) == {"push-model"}
    version = branch["push-model"]["inputs"]["parameters"]["model_version"]
    assert version["componentInputParameter"] == "pipelinechannel--judge-and-register-model_version"
    for task in [*tasks.values(), *branch.values()]:
        if "cachingOptions" in task:
            assert not task["cachingOptions"].get("enableCache", False)
    train = tasks["train-model"]
    assert train["retryPolicy"]["maxRetryCount"] == 2
    scheduler = train["inputs"]["parameters"]["multinode_scheduler"]
    assert scheduler["runtimeValue"]["constant"] == "kubernetes"  # several nodes: a Volcano Job
    assert train["inputs"]["artifacts"]["snapshot"]["taskOutputArtifact"]["producerTask"] == (
        "ingest-snapshot"
    )
    executors = ir["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {IMAGE_PLACEHOLDER}
    resources = executors["exec-train-model"]["container"]["resources"]
    assert resources["resourceCpuLimit"] == "2"  # nproc_per_node
    assert "accelerator" not in resources  # penguins trains on CPU
    assert json.loads(ir["root"]["inputDefinitions"]["parameters"]["spec_yaml"]["defaultValue"])


def test_gpu_spec_requests_gpus_on_the_train_executor(tmp_path: Path) -> None:
    loaded = tiny_spec({"accuracy": 0.6}, workers=Workers(nproc_per_node=2, gpus_per_node=2))
    ir = yaml.safe_load(compile_normalised(loaded, tmp_path / "p.yaml"))
    executors = ir["deploymentSpec"]["executors"]
    accelerator = executors["exec-train-model"]["container"]["resources"]["accelerator"]
    assert accelerator["resourceType"] == "nvidia.com/gpu"
    assert accelerator["resourceCount"] == "2"
    for name, executor in executors.items():
        if name != "exec-train-model":
            assert "accelerator" not in executor["container"].get("resources", {})


# --- local runs (kfp.local) ---------------------------------------------------------------


def _run_isolated(tmp_path_factory, name: str, thresholds: dict[str, float]):
    """run_local with this process's temp location and TMPDIR at an empty directory, which
    is returned with the result, so a test can see what the run left behind."""
    from pipelines.torch.local_runner import run_local

    output = tmp_path_factory.mktemp(name)
    temp = tmp_path_factory.mktemp(f"{name}-tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        patch.setenv("TMPDIR", str(temp))
        patch.setattr(tempfile, "tempdir", str(temp))
        result = run_local(tiny_spec(thresholds), output)
    return output, temp, result


@pytest.fixture(scope="module")
def blessed_run(tmp_path_factory):
    return _run_isolated(tmp_path_factory, "torch-e2e", {"accuracy": 0.6})


def _client(output: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{output / 'mlflow.db'}")


def _task_dir(output: Path, task: str) -> Path:
    (found,) = (output / "kfp" / "penguins" / "pipeline_root").glob(f"*/{task}")
    return found


@pytest.mark.e2e
def test_local_run_trains_with_torchx_ddp_and_pushes_the_blessed_model(blessed_run) -> None:
    output, _, result = blessed_run
    assert result.blessed
    assert result.model_version == "1"
    assert result.pushed_model_dir == (
        output / "kfp" / "penguins" / "serving" / "penguins-pytorch" / "1"
    )
    train_dir = _task_dir(output, "train-model")
    model_files = sorted(
        p.relative_to(train_dir / "model") for p in (train_dir / "model").rglob("*")
    )
    pushed = sorted(
        p.relative_to(result.pushed_model_dir) for p in result.pushed_model_dir.rglob("*")
    )
    assert model_files and pushed == model_files
    executor_output = json.loads((train_dir / "executor_output.json").read_text())
    (model,) = executor_output["artifacts"]["model"]["artifacts"]
    assert model["metadata"]["scheduler"] == "local_cwd"
    assert model["metadata"]["world_size"] == 2
    assert model["metadata"]["attempts"] == 1
    assert result.pipeline_wall_s > 0


@pytest.mark.e2e
def test_local_run_records_the_torchx_launch_inside_the_train_run(blessed_run) -> None:
    """The benchmark's breakdown reads the launch window; rank 0's run lies inside it."""
    from benchmarks.stages import mlflow_step_spans, torchx_launches

    output, _, result = blessed_run
    launch = torchx_launches(output / "kfp" / "penguins" / "pipeline_root")["train_model"]
    (train,) = [s for s in mlflow_step_spans(output, result.mlflow_run_id) if s["step"] == "train"]
    assert launch["start"] < train["start"] < train["end"] < launch["end"]


@pytest.mark.e2e
def test_local_run_nests_step_runs_and_registers_the_champion(blessed_run) -> None:
    output, _, result = blessed_run
    client = _client(output)
    parent = client.get_run(result.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["tandem.framework"] == "pytorch"
    assert parent.data.tags["tandem.dataset_fingerprint"] == result.fingerprint
    assert parent.data.metrics["pipeline_wall_s"] == pytest.approx(result.pipeline_wall_s)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'",
    )
    steps = {run.data.tags["tandem.step"]: run for run in children}
    assert {"ingest", "train", "evaluate", "register"} <= set(steps)
    train = steps["train"]
    assert train.data.params["world_size"] == "2"
    assert len(client.get_metric_history(train.info.run_id, "val_loss")) == EPOCHS
    champion = client.get_model_version_by_alias("penguins-pytorch", "champion")
    assert str(champion.version) == result.model_version
    assert champion.run_id == steps["register"].info.run_id


@pytest.mark.e2e
def test_local_run_writes_logs_and_leaves_no_temp_files(blessed_run) -> None:
    output, temp, _ = blessed_run
    logs = output / "logs" / "pytorch"
    assert list(logs.rglob("events.out.tfevents.*"))
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in (output / "kfp" / "penguins").iterdir()) == [
        "pipeline_root",
        "serving",
    ]


@pytest.mark.e2e
def test_a_model_that_is_not_blessed_is_not_pushed(tmp_path_factory) -> None:
    output, temp, result = _run_isolated(tmp_path_factory, "torch-e2e-strict", UNREACHABLE)
    assert not result.blessed
    assert result.pushed_model_dir is None
    assert not (output / "kfp" / "penguins" / "serving").exists()
    client = _client(output)
    challenger = client.get_model_version_by_alias("penguins-pytorch", "challenger")
    assert str(challenger.version) == result.model_version
    assert set(client.get_registered_model("penguins-pytorch").aliases) == {"challenger"}
    assert list(temp.iterdir()) == []


if __name__ == "__main__":
    print(f"wrote {regenerate_golden()}")
