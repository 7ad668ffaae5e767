"""Thin runners for the PyTorch pipeline: run it here with kfp.local, or compile it to KFP v2 YAML.
Both build the same `create_pipeline`.

Locally every step is a subprocess on this interpreter (kfp.local's SubprocessRunner), inside one
MLflow parent run, so each step's run nests under it. Outputs live under
`<output_dir>/kfp/<spec>/` (pipeline_root, serving). kfp.local leaves temporary files behind: a
workspace directory per `init`, and a `mktemp -d` program directory per lightweight step. A run
points both (and TMPDIR, for everything the steps start) at a scratch directory it deletes.

kfp.local 2.16.1 never runs a `dsl.If` branch on a task output: its condition evaluator looks for
`<task>--<output>` channel names (the compiler writes `<task>-<output>`) and then `eval`s the
condition with neither `inputs` nor `true` defined. While a local run lasts, `_local_conditions`
puts an evaluator in its place that reads the one condition form the DSL compiles
`dsl.If(output == True/False)` to, and refuses any other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from components.common.spec import LoadedSpec
from components.common.tracking import LOG_ROOT_DIR
from pipelines.cluster_config import DEFAULT as CLUSTER_DEFAULT

KFP_DIR = "kfp"
PIPELINE_ROOT_DIR = "pipeline_root"
SERVING_DIR = "serving"
# tandem's output directory on a cluster: where k8s/ mounts the shared PVC.
COMPILE_OUTPUT_DIR = CLUSTER_DEFAULT.runs_mount_path


_CONDITION = re.compile(
    r"inputs\.parameter_values\['pipelinechannel--(?P<channel>[\w-]+)'\] == (?P<value>true|false)"
)


def local_root(output_dir: Path, spec_name: str) -> Path:
    return (Path(output_dir) / KFP_DIR / spec_name).resolve()


@dataclass(frozen=True)
class TorchRunResult:
    """What the CLI prints after a local run."""

    fingerprint: str
    snapshot_dir: Path
    blessed: bool
    blessing: dict
    evaluation_dir: Path
    model_version: str | None
    pushed_model_dir: Path | None
    mlflow_run_id: str
    pipeline_wall_s: float


@contextmanager
def _scratch_tmpdir(parent: Path) -> Iterator[Path]:
    """TMPDIR at a fresh directory for the block (inherited by every step), deleted after.
    This process's own tempfile location is fixed first, so it keeps using the old one."""
    tempfile.gettempdir()
    scratch = parent / f"tmp-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    try:
        yield scratch
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        shutil.rmtree(scratch, ignore_errors=True)


def evaluate_condition(condition: str, io_store) -> bool:
    """`inputs.parameter_values['pipelinechannel--<task>-<output>' or '--<param>'] == true` (or
    false), against kfp.local's IOStore of task outputs and pipeline inputs."""
    match = _CONDITION.fullmatch(condition.strip())
    if match is None:
        raise NotImplementedError(f"kfp.local cannot evaluate the condition {condition!r}")
    channel, expected = match["channel"], match["value"] == "true"
    for task, outputs in io_store._task_output_data.items():
        key = channel.removeprefix(f"{task}-")
        if key != channel and key in outputs:
            return outputs[key] == expected
    return io_store.get_parent_input(channel) == expected


@contextmanager
def _local_conditions() -> Iterator[None]:
    from kfp.local.orchestrator.enhanced_dag_orchestrator import ConditionEvaluator

    original = ConditionEvaluator.__dict__["evaluate_condition"]
    ConditionEvaluator.evaluate_condition = staticmethod(evaluate_condition)
    try:
        yield
    finally:
        ConditionEvaluator.evaluate_condition = original


def run_local(
    loaded: LoadedSpec,
    output_dir: Path,
    serving_root: Path | None = None,
    log_root: Path | None = None,
    max_retries: int = 1,
    report: Callable[[str], None] = lambda message: None,
    seed: int | None = None,
    tags: dict[str, str] | None = None,
) -> TorchRunResult:
    """Run ingest → train → evaluate → push-if-blessed with kfp.local under one MLflow parent
    run (tagged tandem.framework=pytorch and the snapshot's fingerprint). serving_root defaults
    to <output_dir>/kfp/<spec>/serving, log_root (TensorBoard) to <output_dir>/logs. A failing
    step raises kfp.local's RuntimeError, naming the task. seed: the training seed (default:
    the spec's first), also tagged on the parent run, with `tags`."""
    from kfp import local

    from components.common.tracking import (
        TAG_FINGERPRINT,
        TAG_SEED,
        pipeline_run,
        tag_pipeline_run,
    )
    from components.evaluate.run import BLESSING_FILE
    from components.register.push import serving_destination
    from components.register.registry import registered_model_name
    from pipelines.torch_pipeline import FRAMEWORK, create_pipeline

    spec = loaded.spec
    output_dir = Path(output_dir).resolve()
    root = local_root(output_dir, spec.name)
    serving_root = Path(serving_root or root / SERVING_DIR).resolve()
    log_root = Path(log_root or output_dir / LOG_ROOT_DIR).resolve()
    pipeline = create_pipeline(
        loaded,
        image="tandem-torch:local",
        output_dir=str(output_dir),
        serving_root=str(serving_root),
        log_root=str(log_root),
        max_retries=max_retries,
        seed=seed,
    )
    seed = spec.training.seed_or_default(seed)
    with (
        pipeline_run(
            spec.name, FRAMEWORK, output_dir, tags={TAG_SEED: str(seed), **(tags or {})}
        ) as parent,
        _scratch_tmpdir(root) as tmp,
        _local_conditions(),
        warnings.catch_warnings(),
    ):
        # kfp.local warns that a step's image is not this interpreter: running the steps on this
        # interpreter (which holds tandem, as the image does) is the point of a local run.
        warnings.filterwarnings("ignore", "You may be attemping to run a task", RuntimeWarning)
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(root / PIPELINE_ROOT_DIR),
            workspace_root=str(tmp / "workspace"),
        )
        report("running the PyTorch pipeline (kfp.local)")
        started = time.perf_counter()
        outputs = pipeline().outputs
        wall = time.perf_counter() - started
        snapshot = outputs["snapshot"]
        fingerprint = snapshot.metadata["fingerprint"]
        tag_pipeline_run({TAG_FINGERPRINT: fingerprint})
    blessed = bool(outputs["blessed"])
    evaluation_dir = Path(outputs["evaluation"].path)
    version = outputs["model_version"] or None
    pushed = None
    if blessed and version:
        name = registered_model_name(spec.name, FRAMEWORK)
        pushed = serving_destination(serving_root, name, version)
    return TorchRunResult(
        fingerprint=fingerprint,
        snapshot_dir=Path(snapshot.path),
        blessed=blessed,
        blessing=json.loads((evaluation_dir / BLESSING_FILE).read_text()),
        evaluation_dir=evaluation_dir,
        model_version=version,
        pushed_model_dir=pushed,
        mlflow_run_id=parent.info.run_id,
        pipeline_wall_s=wall,
    )


def compile_pipeline(
    loaded: LoadedSpec,
    output_file: Path,
    image: str,
    output_dir: str = COMPILE_OUTPUT_DIR,
    serving_root: str | None = None,
    log_root: str | None = None,
    spec_dir: str | None = None,
) -> Path:
    """Write the pipeline as KFP v2 YAML for `image` (which carries tandem's code). The
    defaults of the location parameters are paths on the cluster's shared volume."""
    from kfp import compiler

    from pipelines.torch_pipeline import create_pipeline

    root = output_dir.rstrip("/")
    pipeline = create_pipeline(
        loaded,
        image=image,
        output_dir=root,
        serving_root=serving_root or f"{root}/{KFP_DIR}/{loaded.spec.name}/{SERVING_DIR}",
        log_root=log_root or f"{root}/{LOG_ROOT_DIR}",
        spec_dir=spec_dir,
    )
    output_file = Path(output_file).resolve()
    output_file.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(output_file))
    return output_file
