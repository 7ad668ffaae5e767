"""Run the PyTorch pipeline here with kfp.local: every step a subprocess on this interpreter
(SubprocessRunner), inside one MLflow parent run so each step's run nests under it. Outputs live
under `<output_dir>/kfp/<spec>/` (pipeline_root, serving); kfp.local's own workarounds are in
`pipelines.torch.kfp_local_fixes`. A multi-node spec trains here too: its nodes are torchrun
agents inside the train step (TorchX local_cwd).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from components.common.frameworks import PYTORCH
from components.common.tracking import LOG_ROOT_DIR
from components.evaluate.blessing import read_blessing
from components.spec import LoadedSpec
from components.torch_trainer.step import LOCAL_CWD
from pipelines.local_run import LocalRunResult, parent_run, tag_fingerprint
from pipelines.torch.kfp_local_fixes import (
    local_conditions,
    python_program_only,
    scratch_tmpdir,
)
from pipelines.torch.pipeline import create_pipeline

PIPELINE_ROOT_DIR = "pipeline_root"
SERVING_DIR = "serving"
LOCAL_IMAGE = PYTORCH.image("local")


def run_local(
    loaded: LoadedSpec,
    output_dir: Path,
    serving_root: Path | None = None,
    log_root: Path | None = None,
    max_retries: int = 1,
    report: Callable[[str], None] = lambda message: None,
    seed: int | None = None,
    tags: dict[str, str] | None = None,
) -> LocalRunResult:
    """Run ingest → train → evaluate and register → push-if-blessed under one MLflow parent run.
    serving_root defaults to <output_dir>/kfp/<spec>/serving, log_root (TensorBoard) to
    <output_dir>/logs. A failing step raises kfp.local's RuntimeError, naming the task."""
    from kfp import local

    from components.register.push import serving_destination

    spec, output_dir = loaded.spec, Path(output_dir).resolve()
    root = PYTORCH.local_root(output_dir, spec.name)
    serving_root = Path(serving_root or root / SERVING_DIR).resolve()
    pipeline = create_pipeline(
        loaded,
        image=LOCAL_IMAGE,
        output_dir=str(output_dir),
        serving_root=str(serving_root),
        log_root=str(Path(log_root or output_dir / LOG_ROOT_DIR).resolve()),
        max_retries=max_retries,
        seed=seed,
        multinode_scheduler=LOCAL_CWD,
    )
    with (
        parent_run(loaded, PYTORCH, output_dir, seed, tags) as parent,
        scratch_tmpdir(root) as tmp,
        local_conditions(),
        python_program_only(),
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
        with parent.timed():
            outputs = pipeline().outputs
        snapshot = outputs["snapshot"]
        tag_fingerprint(snapshot.metadata["fingerprint"])
    blessed, version = bool(outputs["blessed"]), outputs["model_version"] or None
    registered_model = PYTORCH.registered_model_name(spec.name)
    return LocalRunResult(
        framework=PYTORCH.name,
        fingerprint=snapshot.metadata["fingerprint"],
        snapshot_dir=Path(snapshot.path),
        blessed=blessed,
        blessing=read_blessing(Path(outputs["evaluation"].path)),
        evaluation_dir=Path(outputs["evaluation"].path),
        model_version=version,
        pushed_model_dir=(
            serving_destination(serving_root, registered_model, version)
            if blessed and version
            else None
        ),
        mlflow_run_id=parent.run_id,
        pipeline_wall_s=parent.pipeline_wall_s,
    )
