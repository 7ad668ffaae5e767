"""The train step's logic, free of KFP: run the spec's TorchX app for a pipeline step.

KFP's runtime executes a component's function with a reduced `kfp.dsl` (no compiler pieces), so a
module the function imports must not import `kfp.dsl` itself: the KFP wrapper is
`kfp_component`, this is what it calls.

- one node: TorchX's local_cwd scheduler inside the step's own pod (torchrun starts the ranks as
  processes of the pod). TorchX's local_cwd ignores retries, so `launch_local` relaunches the app
  up to `max_retries` times; each relaunch resumes from the checkpoint in the work directory.
- several nodes (nnodes > 1), where `multinode_scheduler` says:
  - `kubernetes` (the compiled pipeline on a cluster): the AppDef goes to TorchX's kubernetes
    scheduler (a Volcano Job whose maxRetry is `max_retries`) and the step waits for it. Every
    path passed to the trainer (spec, snapshot, model, checkpoints, logs) must then be on storage
    all nodes mount. This path needs a cluster with Volcano and is not exercised here.
  - `local_cwd` (kfp.local, `tandem run`): the same AppDef on TorchX's local_cwd scheduler, one
    torchrun agent per node on this machine, meeting at a free port on localhost, each process
    with its share of the cores; the work directory is their shared storage. A worker that dies
    is restarted with the whole group by the agents (see `launch`), a lost agent by
    `launch_local`'s relaunch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from components.common.errors import TandemError

KUBERNETES = "kubernetes"
LOCAL_CWD = "local_cwd"
MULTINODE_SCHEDULERS = (KUBERNETES, LOCAL_CWD)
SPEC_FILE = "spec.yaml"
CHECKPOINT_DIR = "checkpoints"
TORCHX_LOG_DIR = "torchx-logs"


@dataclass(frozen=True)
class StepTraining:
    """What one train step did: TorchX's final state, attempts, the launch's start (epoch
    seconds) and wall, and the rank-0 summary."""

    state: str
    attempts: int
    wall_s: float
    scheduler: str
    summary: dict
    started_at: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


def _launch_kubernetes(app, queue: str, namespace: str):
    """Submit to TorchX's kubernetes scheduler and wait; Volcano does the retries."""
    import time

    from torchx.runner import get_runner
    from torchx.specs import AppState

    from components.torch_trainer.launch import LaunchResult

    started, started_at = time.perf_counter(), time.time()
    cfg = {"queue": queue, "namespace": namespace}
    with get_runner() as runner:
        handle = runner.run(app, scheduler="kubernetes", cfg=cfg)
        status = runner.wait(handle, wait_interval=10.0)
    state = status.state if status is not None else AppState.UNKNOWN
    return LaunchResult(state.name, 1, time.perf_counter() - started, (handle,), started_at)


def train_in_step(
    spec_yaml: str,
    snapshot_dir: Path,
    model_dir: Path,
    runs_dir: Path,
    work_dir: Path,
    image: str,
    max_retries: int,
    seed: int | None = None,
    log_root: Path | None = None,
    queue: str = "default",
    namespace: str = "default",
    multinode_scheduler: str = KUBERNETES,
) -> StepTraining:
    """Train on the snapshot with TorchX, exporting into model_dir.

    work_dir keeps the spec file the replicas read, the checkpoints (so a relaunch resumes) and
    TorchX's replica logs. multinode_scheduler: TorchX's scheduler for several nodes (one node
    always runs in this step's process tree, on local_cwd).
    """
    from components.spec import parse_spec
    from components.torch_trainer.launch import (
        free_local_port,
        launch_local,
        shared_cores_env,
        trainer_app,
        trainer_args,
    )

    if multinode_scheduler not in MULTINODE_SCHEDULERS:
        raise TandemError(
            f"multinode_scheduler {multinode_scheduler!r}: expected one of "
            f"{', '.join(MULTINODE_SCHEDULERS)}"
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    spec_path = work_dir / SPEC_FILE
    spec_path.write_text(spec_yaml)
    loaded = parse_spec(spec_yaml, spec_path)
    checkpoint_dir = work_dir / CHECKPOINT_DIR
    args = trainer_args(
        spec_path, snapshot_dir, model_dir, runs_dir, checkpoint_dir, seed=seed, log_root=log_root
    )
    workers = loaded.spec.training.workers
    scheduler = multinode_scheduler if workers.nnodes > 1 else LOCAL_CWD
    if scheduler == LOCAL_CWD and workers.nnodes > 1:  # the nodes share this machine
        placement = {"rdzv_port": free_local_port(), "env": shared_cores_env(workers)}
    else:
        placement = {}
    app = trainer_app(loaded, args, image=image, max_retries=max_retries, **placement)
    if scheduler == KUBERNETES:
        launched = _launch_kubernetes(app, queue, namespace)
    else:
        launched = launch_local(app, work_dir / TORCHX_LOG_DIR, max_retries)
    rank_zero = checkpoint_dir / "rank-0.json"
    summary = json.loads(rank_zero.read_text()) if rank_zero.is_file() else {}
    return StepTraining(
        launched.state,
        launched.attempts,
        launched.wall_s,
        scheduler,
        summary,
        launched.started_at,
    )
