"""The TorchX launch: the AppDef, its Kubernetes (Volcano) rendering, and real local DDP runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from components.common.tracking import tracking_uri
from components.export import load_predictor
from components.spec import LoadedSpec, Workers, load_spec
from components.torch_trainer.launch import (
    MAX_RESTARTS_ENV,
    SHARED_STORE_OFF_ENV,
    THREADS_ENV,
    TRAIN_MODULE,
    free_local_port,
    kubernetes_resource,
    launch_local,
    shared_cores_env,
    trainer_app,
    trainer_args,
)
from tests.components.torch_trainer.conftest import EPOCHS

EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def with_workers(loaded: LoadedSpec, **workers) -> LoadedSpec:
    training = loaded.spec.training.model_copy(update={"workers": Workers(**workers)})
    return LoadedSpec(spec=loaded.spec.model_copy(update={"training": training}), path=loaded.path)


def args_for(out: Path, loaded: LoadedSpec, snapshot_dir: Path) -> list[str]:
    return trainer_args(
        loaded.path, snapshot_dir, out / "model", out / "runs", out / "checkpoints", seed=0
    )


def test_app_runs_the_trainer_module_with_torchrun(tiny_spec, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("MLFLOW_RUN_ID", "parent-123")
    loaded = with_workers(load_spec(tiny_spec), nnodes=1, nproc_per_node=2)
    app = trainer_app(loaded, ["--spec", "s.yaml"], image="registry/tandem-torch:1", max_retries=2)
    (role,) = app.roles
    command = role.args[-1]
    assert role.entrypoint == "bash"
    assert command.startswith("torchrun ")
    assert "--nnodes 1 --nproc_per_node 2" in command
    assert command.endswith(f"-m {TRAIN_MODULE} --spec s.yaml")
    assert role.num_replicas == 1
    assert role.max_retries == 2
    assert role.image == "registry/tandem-torch:1"
    assert role.env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert role.env["MLFLOW_RUN_ID"] == "parent-123"
    assert MAX_RESTARTS_ENV not in role.env  # one node: launch_local relaunches
    assert role.resource.gpu == 0


def test_two_node_app_runs_an_agent_per_node_that_restarts_the_group(tiny_spec):
    loaded = with_workers(load_spec(tiny_spec), nnodes=2, nproc_per_node=1)
    port = free_local_port()
    app = trainer_app(loaded, ["--spec", "s.yaml"], max_retries=1, rdzv_port=port)
    (role,) = app.roles
    command = role.args[-1]
    assert role.num_replicas == 2  # one torchrun agent per node
    assert "--nnodes 2 --nproc_per_node 1" in command
    assert "--rdzv_backend c10d" in command
    assert f":{port} " in command  # the rendezvous, on the first node's host
    assert role.env[MAX_RESTARTS_ENV] == "1"  # torchrun's --max_restarts
    assert role.env[SHARED_STORE_OFF_ENV] == "1"  # a store per generation of workers


def test_nodes_on_one_machine_share_its_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    two_nodes = Workers(nnodes=2, nproc_per_node=1)
    assert shared_cores_env(two_nodes) == {THREADS_ENV: str(max(1, os.cpu_count() // 2))}
    assert shared_cores_env(Workers(nnodes=4, nproc_per_node=64)) == {THREADS_ENV: "1"}
    monkeypatch.setenv(THREADS_ENV, "3")
    assert shared_cores_env(two_nodes) == {}  # the caller's setting is kept


def test_kubernetes_resource_is_a_volcano_job_with_gpus_and_retries(tiny_spec, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    loaded = with_workers(load_spec(tiny_spec), nnodes=2, nproc_per_node=4, gpus_per_node=4)
    app = trainer_app(
        loaded, ["--spec", "/specs/s.yaml"], image="registry/tandem-torch:1", max_retries=3
    )
    with pytest.warns(UserWarning, match="Volcano"):  # TorchX's caveat on Volcano retries
        job = kubernetes_resource(app, queue="training", namespace="tandem")
    json.dumps(job)  # plain data, ready to write as YAML/JSON
    assert (job["apiVersion"], job["kind"]) == ("batch.volcano.sh/v1alpha1", "Job")
    spec = job["spec"]
    assert spec["schedulerName"] == "volcano"
    assert spec["queue"] == "training"
    assert spec["maxRetry"] == 3
    assert len(spec["tasks"]) == 2  # one task per node
    for task in spec["tasks"]:
        assert task["replicas"] == 1
        assert task["maxRetry"] == 3
        (container,) = task["template"]["spec"]["containers"]
        assert container["image"] == "registry/tandem-torch:1"
        command = container["command"][-1]
        assert "--nnodes 2 --nproc_per_node 4" in command
        assert f"-m {TRAIN_MODULE}" in command
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env[MAX_RESTARTS_ENV] == "3"  # a dead worker restarts the group in its pods


def test_cpu_only_job_requests_no_gpu(tiny_spec):
    loaded = with_workers(load_spec(tiny_spec), nnodes=1, nproc_per_node=2, gpus_per_node=0)
    job = kubernetes_resource(trainer_app(loaded, ["--spec", "s.yaml"]))
    (task,) = job["spec"]["tasks"]
    limits = task["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in limits
    assert job["spec"]["maxRetry"] == 0


def summaries(checkpoints: Path) -> list[dict]:
    return [json.loads((checkpoints / f"rank-{rank}.json").read_text()) for rank in (0, 1)]


def the_only_run(runs_dir: Path):
    client = MlflowClient(tracking_uri(runs_dir))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    return client, runs[0]


@pytest.fixture(scope="module")
def ddp_run(tiny_spec, penguins_snapshot, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("torchx-ddp")
    loaded = load_spec(tiny_spec)  # workers: 1 node x 2 processes, CPU
    app = trainer_app(loaded, args_for(out, loaded, penguins_snapshot.snapshot_dir))
    return out, launch_local(app, log_dir=out / "torchx", wait_interval=0.5)


@pytest.mark.e2e
def test_two_process_ddp_trains_identical_replicas_and_logs_once(ddp_run, penguins_snapshot):
    out, result = ddp_run
    assert result.succeeded and result.attempts == 1
    rank0, rank1 = summaries(out / "checkpoints")
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["final_state_sha256"] == rank1["final_state_sha256"]
    assert rank0["final_state_sha256"] != rank0["start_state_sha256"]
    client, run = the_only_run(out / "runs")
    assert run.data.params["world_size"] == "2"
    assert run.data.params["batch_size_per_process"] == "8"
    for key in EPOCH_METRICS:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(steps) == list(range(EPOCHS))
    assert load_predictor(out / "model", "pytorch").format == "pt2"


@pytest.mark.e2e
def test_a_rank_failure_is_retried_and_resumes_from_the_last_checkpoint(
    ddp_run, tiny_spec, penguins_snapshot, tmp_path
):
    loaded = load_spec(tiny_spec)
    app = trainer_app(
        loaded,
        args_for(tmp_path, loaded, penguins_snapshot.snapshot_dir),
        max_retries=1,
        env={"TANDEM_FAIL_ONCE": "rank=1,epoch=2"},
    )
    result = launch_local(app, log_dir=tmp_path / "torchx", wait_interval=0.5)
    assert result.succeeded
    assert result.attempts == 2
    assert (tmp_path / "checkpoints" / "failed-once-rank1-epoch2").is_file()
    rank0, rank1 = summaries(tmp_path / "checkpoints")
    assert rank0["start_epoch"] == rank1["start_epoch"] == 2  # no finished epoch was lost
    assert rank0["start_state_sha256"] == rank1["start_state_sha256"]
    assert rank0["final_state_sha256"] == rank1["final_state_sha256"]
    uninterrupted, _ = summaries(ddp_run[0] / "checkpoints")
    assert rank0["final_state_sha256"] == uninterrupted["final_state_sha256"]
    client, run = the_only_run(tmp_path / "runs")
    assert run.info.status == "FINISHED"
    assert run.data.tags["tandem.resumed_from_epoch"] == "2"
    for key in EPOCH_METRICS:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(steps) == list(range(EPOCHS))  # each epoch exactly once
    assert len(client.get_metric_history(run.info.run_id, "samples_per_s")) == 1


@pytest.mark.slow
def test_launch_gives_up_after_its_retries(tiny_spec, penguins_snapshot, tmp_path):
    loaded = with_workers(load_spec(tiny_spec), nnodes=1, nproc_per_node=1)
    args = args_for(tmp_path, loaded, penguins_snapshot.snapshot_dir)
    app = trainer_app(loaded, [*args[:1], str(tmp_path / "missing.yaml"), *args[2:]])
    result = launch_local(app, log_dir=tmp_path / "torchx", max_retries=1, wait_interval=0.2)
    assert result.state == "FAILED"
    assert result.attempts == 2
