"""The Trainer's run_fn as two MultiWorkerMirroredStrategy workers: two real processes on
127.0.0.1, one TF_CONFIG each (`components.tf_trainer.worker`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from components.common.errors import TandemError
from components.common.tracking import TAG_STEP, experiment_name, tracking_uri
from components.export import load_predictor
from components.tf_trainer.config import trainer_config
from components.tf_trainer.worker import read_fn_args
from tests.components.tf_trainer.test_tf_run_fn import scalar_steps
from tests.processes import free_ports, log_tail, stop_group

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKERS = 2
EPOCHS = 3
# Both workers import TensorFlow and TFX, read the splits, then wait for each other: ~1 min here.
RUN_TIMEOUT_S = 420


def _tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def _outcome(worker: subprocess.Popen) -> str:
    return "still running" if worker.returncode is None else f"exited {worker.returncode}"


def _wait_for_all_or_a_failure(workers: list[subprocess.Popen]) -> None:
    """Until every worker has exited, one has failed (its peers would wait on it until
    TensorFlow's own timeouts) or RUN_TIMEOUT_S has passed."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        codes = [worker.poll() for worker in workers]
        if None not in codes or any(code not in (None, 0) for code in codes):
            return
        time.sleep(0.5)


def _run_workers(fn_args: Path, out: Path) -> None:
    """Start every worker and wait (`_wait_for_all_or_a_failure`); fail with the logs of any
    that did not exit 0. Every worker is stopped on the way out."""
    ports = free_ports(WORKERS)
    workers, logs = [], []
    try:
        for index in range(WORKERS):
            temp_dir = out / f"tmp-{index}"
            temp_dir.mkdir()
            logs.append(out / f"worker-{index}.log")
            environment = {
                **os.environ,
                "TF_CONFIG": _tf_config(ports, index),
                "TMPDIR": str(temp_dir),
            }
            command = [sys.executable, "-m", "components.tf_trainer.worker", str(fn_args)]
            command += ["--weights-out", str(out / f"weights-{index}.npz")]
            with logs[-1].open("w") as log:
                workers.append(
                    subprocess.Popen(
                        command,
                        cwd=REPO_ROOT,
                        env=environment,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_for_all_or_a_failure(workers)
        failed = [
            f"worker {index} {_outcome(worker)}:\n{log_tail(log, 4000)}"
            for index, (worker, log) in enumerate(zip(workers, logs, strict=True))
            if worker.returncode != 0
        ]
        if failed:
            pytest.fail("\n\n".join(failed))
    finally:
        for worker in workers:
            stop_group(worker)


@pytest.mark.distributed
@pytest.mark.slow
def test_two_workers_end_equal_and_only_the_chief_exports_and_logs(
    penguins_snapshot, penguins_spec, transform_run, tmp_path
):
    spec = penguins_spec.model_copy(
        update={"training": penguins_spec.training.model_copy(update={"epochs": EPOCHS})}
    )
    runs_dir, serving_dir, model_run_dir = tmp_path / "runs", tmp_path / "serving", tmp_path / "run"
    fn_args = tmp_path / "fn_args.json"
    fn_args.write_text(
        json.dumps(
            {
                "train_files": transform_run.train_files,
                "eval_files": transform_run.eval_files,
                "transform_output": str(transform_run.transform_dir),
                "serving_model_dir": str(serving_dir),
                "model_run_dir": str(model_run_dir),
                "custom_config": trainer_config(
                    spec, runs_dir=str(runs_dir), snapshot_dir=str(penguins_snapshot.snapshot_dir)
                ),
            }
        )
    )

    _run_workers(fn_args, tmp_path)

    chief, other = (np.load(tmp_path / f"weights-{index}.npz") for index in range(WORKERS))
    assert chief.files == other.files and len(chief.files) == 6  # 3 Dense layers: kernel, bias
    for name in chief.files:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)

    test = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    probabilities = load_predictor(serving_dir, "tensorflow").predict(test)
    assert probabilities.shape == (test.num_rows, 3)
    # Each worker saved once (a SavedModel save runs on every worker); only the chief's stays.
    for index in range(WORKERS):
        assert list((tmp_path / f"tmp-{index}").glob("tandem-export-*")) == []

    client = MlflowClient(tracking_uri(runs_dir))
    experiment = client.get_experiment_by_name(experiment_name(spec.name))
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags[TAG_STEP] == "train"
    assert run.data.params["world_size"] == str(WORKERS)
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == list(range(EPOCHS)), key
    assert scalar_steps(model_run_dir / "train", "epoch_loss") == list(range(EPOCHS))


def test_a_worker_refuses_fn_args_it_does_not_know(tmp_path):
    fn_args = tmp_path / "fn_args.json"
    fn_args.write_text(json.dumps({"train_files": ["a/*"], "train_steps": 5}))
    with pytest.raises(TandemError, match=r"fn_args\.json: .*'train_steps'"):
        read_fn_args(fn_args)
    fn_args.write_text(json.dumps({"train_files": ["a/*"], "serving_model_dir": "out"}))
    assert read_fn_args(fn_args).serving_model_dir == "out"
