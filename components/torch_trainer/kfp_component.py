"""The PyTorch trainer as a Kubeflow Pipelines v2 component: tandem's KFP v2 → TorchX bridge.

The step builds the TorchX AppDef for the spec's workers (torchrun on nnodes x nproc_per_node
processes). One node: TorchX's local_cwd scheduler runs it inside the step's pod (what runs here
under kfp.local: 2 ranks for penguins), relaunching after a failure up to `max_retries` times.
Several nodes: `multinode_scheduler` decides — kubernetes, a Volcano Job (the compiled pipeline;
not exercised here: no cluster), or local_cwd, one torchrun agent per node inside the step
(kfp.local: `tandem run`). See `components.torch_trainer.step`. The exported model directory is
the step's Model artifact.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output
from kfp.dsl.python_component import PythonComponent


def train_model(
    spec_yaml: str,
    runs_dir: str,
    log_root: str,
    image: str,
    max_retries: int,
    seed: int,
    snapshot: Input[Dataset],
    model: Output[Model],
    multinode_scheduler: str = "kubernetes",
    k8s_queue: str = "default",
    k8s_namespace: str = "default",
):
    """Train the spec's classifier on the snapshot with TorchX-launched Lightning Fabric DDP.

    runs_dir: tandem's output directory (its embedded MLflow store when MLFLOW_TRACKING_URI is
    unset); log_root: TensorBoard logs go under <log_root>/pytorch ('' for none); image: the
    image of the multi-node replicas; max_retries: relaunches after a failed attempt (several
    nodes: also torchrun's restarts of the worker group after a worker dies); seed:
    weight initialisation and shuffling; multinode_scheduler: TorchX's scheduler when the spec
    has several nodes: kubernetes (a Volcano Job) or local_cwd (every node inside this step);
    k8s_queue, k8s_namespace: the Volcano queue and namespace of a multi-node job.
    """
    from pathlib import Path

    from components.common.frameworks import PYTORCH
    from components.torch_trainer.step import train_in_step

    model_dir = Path(model.path)
    work_dir = model_dir.with_name(f"{model_dir.name}-work")
    result = train_in_step(
        spec_yaml,
        Path(snapshot.path),
        model_dir,
        Path(runs_dir),
        work_dir,
        image,
        max_retries,
        seed,
        Path(log_root) if log_root else None,
        k8s_queue,
        k8s_namespace,
        multinode_scheduler,
    )
    if not result.succeeded:
        raise RuntimeError(
            f"training ended {result.state} after {result.attempts} attempt(s) on "
            f"{result.scheduler}; replica logs under {work_dir}"
        )
    model.metadata.update(
        {
            "framework": PYTORCH.name,
            "scheduler": result.scheduler,
            "attempts": result.attempts,
            "launch_started_at": round(result.started_at, 3),
            "launch_wall_s": round(result.wall_s, 3),
            "world_size": result.summary.get("world_size", 0),
            "mlflow_run_id": result.summary.get("mlflow_run_id", ""),
        }
    )


def train_component(image: str) -> PythonComponent:
    """The component for the PyTorch runtime image (which carries tandem's code)."""
    return dsl.component(train_model, base_image=image, install_kfp_package=False)
