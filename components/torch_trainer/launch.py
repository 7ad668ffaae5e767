"""Launch the trainer with TorchX: one AppDef, run locally (local_cwd) or rendered for Kubernetes.

`trainer_app` builds the AppDef with TorchX's builtin `dist.torchrun` component (the successor of
`dist.ddp`, which this torchx version deprecates; same arguments): `torchrun -m
components.torch_trainer.train ...` on `nnodes` replicas of `nproc_per_node` processes each.

TorchX's local_cwd scheduler ignores `max_retries` (a failed replica ends the app FAILED) and
torchrun's own restart budget is 0, so `launch_local` retries around the launch: it relaunches the
whole app, and training resumes from the last checkpoint. On Kubernetes the retry setting becomes
the Volcano Job's `maxRetry`.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from components.common.frameworks import PYTORCH
from components.common.tracking import PARENT_RUN_ENV, TRACKING_URI_ENV
from components.spec import LoadedSpec

TRAIN_MODULE = "components.torch_trainer.train"
APP_NAME = "tandem-torch-train"
DEFAULT_IMAGE = PYTORCH.image("latest")


def trainer_args(
    spec_path: Path,
    snapshot_dir: Path,
    model_dir: Path,
    runs_dir: Path,
    checkpoint_dir: Path,
    seed: int | None = None,
    log_root: Path | None = None,
) -> list[str]:
    """The trainer's command-line arguments (paths as the replicas see them)."""
    args = [
        "--spec",
        str(spec_path),
        "--snapshot",
        str(snapshot_dir),
        "--model-dir",
        str(model_dir),
        "--runs-dir",
        str(runs_dir),
        "--checkpoint-dir",
        str(checkpoint_dir),
    ]
    if seed is not None:
        args += ["--seed", str(seed)]
    if log_root is not None:
        args += ["--log-root", str(log_root)]
    return args


def trainer_app(
    loaded: LoadedSpec,
    args: list[str],
    image: str = DEFAULT_IMAGE,
    max_retries: int = 0,
    cpu: int = 2,
    mem_mb: int = 4096,
    env: dict[str, str] | None = None,
):
    """The TorchX AppDef of a training run, topology and GPUs from the spec's `workers`.

    MLFLOW_TRACKING_URI and MLFLOW_RUN_ID pass through from this process, so rank 0 nests its
    run under the pipeline's parent run; `env` adds or overrides variables.
    """
    from torchx.components.dist import torchrun

    workers = loaded.spec.training.workers
    passed = {
        name: os.environ[name] for name in (TRACKING_URI_ENV, PARENT_RUN_ENV) if name in os.environ
    }
    return torchrun(
        *args,
        m=TRAIN_MODULE,
        image=image,
        name=APP_NAME,
        j=f"{workers.nnodes}x{workers.nproc_per_node}",
        cpu=cpu,
        gpu=workers.gpus_per_node,
        memMB=mem_mb,
        env={**passed, **(env or {})},
        max_retries=max_retries,
    )


@dataclass(frozen=True)
class LaunchResult:
    state: str  # the last attempt's TorchX AppState name, e.g. "SUCCEEDED" or "FAILED"
    attempts: int
    wall_s: float
    app_handles: tuple[str, ...]
    started_at: float = 0.0  # epoch seconds of the first launch (lines up with MLflow's times)

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


def _local_app(app):
    """A copy whose replicas find this interpreter's `torchrun` (and python) first on PATH."""
    local = copy.deepcopy(app)
    bin_dir = str(Path(sys.executable).parent)
    for role in local.roles:
        role.env["PATH"] = os.pathsep.join(filter(None, [bin_dir, role.env.get("PATH")]))
    return local


def launch_local(
    app,
    log_dir: Path | None = None,
    max_retries: int | None = None,
    wait_interval: float = 0.1,
) -> LaunchResult:
    """Run the app with TorchX's local_cwd scheduler; relaunch it after a failure, at most
    `max_retries` times (default: the app's role max_retries). Blocks until it ends, polling
    the local processes every `wait_interval` seconds (a poll is a cheap check of the child
    processes; a long interval only adds its half, on average, to every launch)."""
    from torchx.runner import get_runner
    from torchx.specs import AppState

    if max_retries is None:
        max_retries = min(role.max_retries for role in app.roles)
    local = _local_app(app)
    cfg = {"log_dir": str(log_dir)} if log_dir is not None else {}
    handles: list[str] = []
    started, started_at = time.perf_counter(), time.time()
    state = AppState.UNKNOWN
    with get_runner() as runner:
        for _ in range(max_retries + 1):
            handle = runner.run(local, scheduler="local_cwd", cfg=cfg)
            handles.append(handle)
            status = runner.wait(handle, wait_interval=wait_interval)
            state = status.state if status is not None else AppState.UNKNOWN
            if state == AppState.SUCCEEDED:
                break
    return LaunchResult(
        state=state.name,
        attempts=len(handles),
        wall_s=time.perf_counter() - started,
        app_handles=tuple(handles),
        started_at=started_at,
    )


def kubernetes_resource(
    app, queue: str = "default", namespace: str = "default", service_account: str | None = None
) -> dict:
    """The Volcano Job TorchX's kubernetes scheduler would submit for `app` (a dry run: nothing
    is contacted, the cluster-side spec validation is off), as plain JSON-ready data."""
    from torchx.runner import get_runner
    from torchx.schedulers.kubernetes_scheduler import sanitize_for_serialization

    cfg = {"queue": queue, "namespace": namespace, "validate_spec": False}
    if service_account is not None:
        cfg["service_account"] = service_account
    with get_runner() as runner:
        info = runner.dryrun(app, "kubernetes", cfg=cfg)
    return sanitize_for_serialization(info.request.resource)
