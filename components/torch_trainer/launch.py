"""Launch the trainer with TorchX: one AppDef, run locally (local_cwd) or rendered for Kubernetes.

`trainer_app` builds the AppDef with TorchX's builtin `dist.torchrun` component (the successor of
`dist.ddp`, which this torchx version deprecates; same arguments): `torchrun -m
components.torch_trainer.train ...` on `nnodes` replicas (one torchrun agent per node) of
`nproc_per_node` processes each, the agents meeting at a c10d rendezvous on the first replica's
host. TorchX's local_cwd scheduler starts every replica as a process on this machine (its
first-replica host is localhost), so several nodes run here as several agents.

Retries. TorchX's local_cwd scheduler ignores `max_retries` (a failed replica ends the app
FAILED), so `launch_local` retries around the launch: it relaunches the whole app, and training
resumes from the last checkpoint. On Kubernetes the retry setting becomes the Volcano Job's
`maxRetry`. With several nodes, torchrun's agents also get `max_retries` restarts of their own
(torchrun's `--max_restarts`): when a worker dies, every agent stops its workers and the group
starts again from the last checkpoint, without relaunching a node (on a cluster: without new
pods); a relaunch is then left for a node that is lost.
"""

from __future__ import annotations

import copy
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from components.common.frameworks import PYTORCH
from components.common.tracking import PARENT_RUN_ENV, TRACKING_URI_ENV
from components.spec import LoadedSpec, Workers

TRAIN_MODULE = "components.torch_trainer.train"
APP_NAME = "tandem-torch-train"
DEFAULT_IMAGE = PYTORCH.image("latest")
DEFAULT_RDZV_PORT = 29500  # TorchX's: the c10d rendezvous store's port on the first node
# torchrun reads an option from PET_<OPTION> when it is not on the command line.
MAX_RESTARTS_ENV = "PET_MAX_RESTARTS"
# Every generation of workers gets a store of its own (see `_restartable_nodes`).
SHARED_STORE_OFF_ENV = "TORCH_DISABLE_SHARE_RDZV_TCP_STORE"
THREADS_ENV = "OMP_NUM_THREADS"


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
    rdzv_port: int = DEFAULT_RDZV_PORT,
):
    """The TorchX AppDef of a training run, topology and GPUs from the spec's `workers`.

    MLFLOW_TRACKING_URI and MLFLOW_RUN_ID pass through from this process, so rank 0 nests its
    run under the pipeline's parent run; `env` adds or overrides variables. Several nodes: each
    agent restarts the worker group up to `max_retries` times, and the agents meet at
    `rdzv_port` (one node needs no port: its agent picks a free one).
    """
    from torchx.components.dist import torchrun

    workers = loaded.spec.training.workers
    passed = {
        name: os.environ[name] for name in (TRACKING_URI_ENV, PARENT_RUN_ENV) if name in os.environ
    }
    if workers.nnodes > 1:
        passed.update(_restartable_nodes(max_retries))
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
        rdzv_port=rdzv_port,
    )


def _restartable_nodes(restarts: int) -> dict[str, str]:
    """torchrun's settings for nodes that restart their workers together `restarts` times.

    By default the workers share the agents' rendezvous store, which outlives a restart with the
    previous generation's keys; the agents count restarts each on its own (the agent whose worker
    died counts one, the others restart for the membership change and count none), so a
    restarted worker can read a dead peer's address and time out connecting to it
    (pytorch/pytorch#135712, seen here with torch 2.13). Without sharing, the rank-0 worker of
    each generation hosts a new store at a port its agent picks.
    """
    return {MAX_RESTARTS_ENV: str(restarts), SHARED_STORE_OFF_ENV: "1"}


def shared_cores_env(workers: Workers) -> dict[str, str]:
    """For nodes that all run on this machine: each process's share of its cores, as OpenMP
    threads (an OMP_NUM_THREADS already in this process's environment wins).

    torchrun limits a process to one thread only when a node runs several; a one-process node
    takes every core, as it should on a machine of its own. Two such nodes on one machine fight
    over the cores: on 2 cores, 2 nodes x 1 process fit penguins 3x slower than 1 node x 2
    processes (10x with other work on the machine), and as fast with one thread each.
    """
    if THREADS_ENV in os.environ:
        return {}
    processes = workers.nnodes * workers.nproc_per_node
    return {THREADS_ENV: str(max(1, (os.cpu_count() or 1) // processes))}


def free_local_port() -> int:
    """A TCP port free on this machine now: the rendezvous port of nodes launched here (the fixed
    default would join another local multi-node run's rendezvous store, and end with it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
