"""Two-node PyTorch training on one machine: `workers.nnodes: 2` under `tandem run` starts two
torchrun agents (TorchX local_cwd, one replica per node) that meet at a c10d rendezvous on
localhost; and the train step survives one node's worker SIGKILLed from outside, mid-epoch.

Both runs train the same spec, seed and snapshot, so the killed run, resumed from its checkpoint,
must end with the uninterrupted run's weights.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from components.common.tracking import TAG_STEP, tracking_uri
from components.ingest.snapshot import current_snapshot_link
from components.spec import default_spec_path, load_spec
from components.torch_trainer.checkpoint import EPOCHS_DONE, LAST_CHECKPOINT
from components.torch_trainer.step import LOCAL_CWD, train_in_step

TANDEM = Path(sys.executable).parent / "tandem"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_nodes" / "penguins_two_nodes.yaml"
EPOCHS = 6
# A per-process batch of one row: ~120 steps an epoch (about 0.6 s here), so the kill lands
# among an epoch's steps.
BATCH_SIZE = 2
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
RUN_TIMEOUT_S = 900


def test_the_example_is_the_bundled_penguins_spec_on_two_nodes():
    example, bundled = (yaml.safe_load(path.read_text()) for path in (EXAMPLE, default_spec_path()))
    workers = example["training"].pop("workers")
    assert workers == {"nnodes": 2, "nproc_per_node": 1, "gpus_per_node": 0}
    bundled["training"].pop("workers")
    assert example == bundled


@pytest.fixture(scope="module")
def two_node_spec(tmp_path_factory) -> Path:
    """The README's example (penguins on 2 nodes x 1 process), EPOCHS epochs of BATCH_SIZE
    rows."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["training"].update(epochs=EPOCHS, batch_size=BATCH_SIZE)
    path = tmp_path_factory.mktemp("two-node-spec") / "penguins-two-nodes.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass(frozen=True)
class TandemRun:
    output: Path
    train_dir: Path  # kfp.local's directory of the train task

    @property
    def checkpoints(self) -> Path:
        return self.train_dir / "model-work" / "checkpoints"


@pytest.fixture(scope="module")
def tandem_run(two_node_spec, tmp_path_factory) -> TandemRun:
    """`tandem run --framework pytorch --seeds 1` on the two-node spec, as a user runs it."""
    output = tmp_path_factory.mktemp("two-node-run") / "out"
    env = {name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")}
    command = [str(TANDEM), "run", "--spec", str(two_node_spec), "--framework", "pytorch"]
    finished = subprocess.run(
        [*command, "--seeds", "1", "--output-dir", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    (train_dir,) = (output / "kfp" / "penguins" / "pipeline_root").glob("*/train-model")
    return TandemRun(output, train_dir)


def summaries(checkpoints: Path) -> list[dict]:
    return [json.loads((checkpoints / f"rank-{rank}.json").read_text()) for rank in (0, 1)]


def train_runs(runs_dir: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri(runs_dir))
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{TAG_STEP}` = 'train'",
    )
    return client, runs


def assert_each_epoch_logged_once(client: MlflowClient, run_id: str) -> None:
    for key in EPOCH_METRICS:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert sorted(steps) == list(range(EPOCHS)), key


@pytest.mark.distributed
@pytest.mark.e2e
def test_tandem_run_trains_on_two_local_nodes_with_identical_weights(tandem_run):
    executor_output = json.loads((tandem_run.train_dir / "executor_output.json").read_text())
    (model,) = executor_output["artifacts"]["model"]["artifacts"]
    assert model["metadata"]["scheduler"] == LOCAL_CWD
    assert model["metadata"]["world_size"] == 2
    assert model["metadata"]["attempts"] == 1
    (app_logs,) = (tandem_run.train_dir / "model-work" / "torchx-logs").glob("*/*/train")
    assert sorted(p.name for p in app_logs.iterdir()) == ["0", "1"]  # one torchrun agent a node
    rank0, rank1 = summaries(tandem_run.checkpoints)
    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["final_state_sha256"] == rank1["final_state_sha256"]
    assert rank0["final_state_sha256"] != rank0["start_state_sha256"]


@pytest.mark.distributed
@pytest.mark.e2e
def test_tandem_run_logs_from_rank_zero_alone_with_two_nodes(tandem_run):
    rank0, rank1 = summaries(tandem_run.checkpoints)
    assert "mlflow_run_id" not in rank1
    client, runs = train_runs(tandem_run.output)
    (run,) = runs
    assert run.info.run_id == rank0["mlflow_run_id"]
    params = run.data.params
    assert (params["nnodes"], params["nproc_per_node"], params["world_size"]) == ("2", "1", "2")
    assert params["batch_size_per_process"] == "1"
    assert_each_epoch_logged_once(client, run.info.run_id)
    assert len(client.get_metric_history(run.info.run_id, "samples_per_s")) == 1


# --- a worker SIGKILLed from outside ---------------------------------------------------------


def epochs_done(checkpoints: Path) -> int:
    """The epochs `last.ckpt` holds (0 before the first); it is replaced whole, never torn."""
    last = checkpoints / LAST_CHECKPOINT
    if not last.is_file():
        return 0
    return int(torch.load(last, map_location="cpu", weights_only=False)[EPOCHS_DONE])


def await_epoch_start(checkpoints: Path, epoch: int, training: threading.Thread) -> float:
    """Wait until `epoch` epochs are checkpointed; the last epoch's duration (seconds)."""
    reached: dict[int, float] = {}
    while training.is_alive():
        done = epochs_done(checkpoints)
        reached.setdefault(done, time.perf_counter())
        if done >= epoch:
            return reached[epoch] - reached.get(epoch - 1, reached[epoch])
        time.sleep(0.05)
    raise AssertionError(f"training ended before epoch {epoch} was checkpointed")


def environment(process: psutil.Process) -> dict[str, str]:
    try:
        return process.environ()
    except psutil.Error:  # ended since it was listed
        return {}


def worker_of_rank(rank: int) -> psutil.Process:
    """The training process of global rank `rank`: a torchrun agent's child, under this test."""
    (worker,) = [
        process
        for process in psutil.Process().children(recursive=True)
        if environment(process).get("RANK") == str(rank)
        and "TORCHELASTIC_RUN_ID" in environment(process)
    ]
    return worker


@pytest.fixture(scope="module")
def killed_run(tandem_run, two_node_spec, tmp_path_factory):
    """The train step on two local nodes (as `tandem run` calls it), on the run's snapshot;
    a third into epoch 2, rank 1's worker (the second node's) is SIGKILLed."""
    out = tmp_path_factory.mktemp("two-node-killed")
    snapshot_dir = current_snapshot_link(tandem_run.output, "penguins").resolve()
    spec_yaml = two_node_spec.read_text()
    seed = load_spec(two_node_spec).spec.training.seeds[0]  # what `--seeds 1` trains
    result: dict = {}

    def train() -> None:
        result["step"] = train_in_step(
            spec_yaml,
            snapshot_dir,
            out / "model",
            out / "runs",
            out / "work",
            image="unused",
            max_retries=1,
            seed=seed,
            multinode_scheduler=LOCAL_CWD,
        )

    training = threading.Thread(target=train)
    training.start()
    checkpoints = out / "work" / "checkpoints"
    epoch_s = await_epoch_start(checkpoints, 2, training)
    time.sleep(epoch_s / 3)
    done_at_kill = epochs_done(checkpoints)
    worker_of_rank(1).send_signal(signal.SIGKILL)
    training.join(RUN_TIMEOUT_S)
    assert not training.is_alive()
    return result["step"], checkpoints, done_at_kill, out / "runs"


@pytest.mark.distributed
@pytest.mark.slow
def test_a_worker_killed_mid_epoch_restarts_the_group_from_its_checkpoint(killed_run, tandem_run):
    step, checkpoints, done_at_kill, _ = killed_run
    assert step.succeeded
    assert (step.scheduler, step.attempts) == (LOCAL_CWD, 1)  # the agents restarted it in place
    rank0, rank1 = summaries(checkpoints)
    assert 2 <= done_at_kill < EPOCHS  # killed inside an epoch (2, unless one ran very fast)
    # The restart starts where the last checkpoint left off: at most the killed epoch is lost.
    assert rank0["start_epoch"] == rank1["start_epoch"] >= done_at_kill
    assert rank0["resumed_from"] == str(checkpoints / LAST_CHECKPOINT)
    assert rank0["start_state_sha256"] == rank1["start_state_sha256"]
    assert rank0["final_state_sha256"] == rank1["final_state_sha256"]
    uninterrupted, _ = summaries(tandem_run.checkpoints)
    assert rank0["final_state_sha256"] == uninterrupted["final_state_sha256"]


@pytest.mark.distributed
@pytest.mark.slow
def test_a_killed_worker_leaves_each_epoch_logged_once(killed_run):
    step, _, done_at_kill, runs_dir = killed_run
    client, runs = train_runs(runs_dir)
    (run,) = runs
    assert run.info.status == "FINISHED"
    assert run.data.params["nnodes"] == "2"
    assert int(run.data.tags["tandem.resumed_from_epoch"]) >= done_at_kill
    assert_each_epoch_logged_once(client, run.info.run_id)
    assert step.summary["mlflow_run_id"] == run.info.run_id


@pytest.mark.distributed
@pytest.mark.slow
def test_two_nodes_that_cannot_train_fail_after_their_restarts_and_a_relaunch(
    two_node_spec, tmp_path
):
    """Every worker fails at once (no snapshot): each agent restarts its worker, then the app is
    relaunched once, then the step reports FAILED (no agent is left waiting for the other)."""
    step = train_in_step(
        two_node_spec.read_text(),
        tmp_path / "no-snapshot",
        tmp_path / "model",
        tmp_path / "runs",
        tmp_path / "work",
        image="unused",
        max_retries=1,
        multinode_scheduler=LOCAL_CWD,
    )
    assert (step.state, step.attempts, step.scheduler) == ("FAILED", 2, LOCAL_CWD)
    launches = list((tmp_path / "work" / "torchx-logs").glob("*/*/torchelastic/train"))
    assert len(launches) == 2
    for launch in launches:
        agents = list(launch.iterdir())
        assert len(agents) == 2  # one torchrun agent a node
        # The first agent to see its worker fail restarted it (a log folder per counted restart);
        # the other may have restarted for the membership change, which torchrun does not count.
        assert any((agent / "attempt_1").is_dir() for agent in agents)
