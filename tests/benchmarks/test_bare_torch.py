"""The bare PyTorch reference loop, and reading step timings back from MLflow."""

from __future__ import annotations

from benchmarks.stages import mlflow_steps, step_seconds
from components.spec import default_spec_path


def test_bare_loop_trains_and_exports_the_contract(penguins_snapshot, tmp_path):
    from benchmarks.bare_torch import train
    from components.export import load_predictor

    result = train(
        default_spec_path(), penguins_snapshot.snapshot_dir, epochs=1, export_dir=tmp_path
    )
    assert result["world_size"] == 1
    assert result["per_process_batch"] == result["global_batch"] == 16
    assert result["samples_per_s"] > 0
    assert load_predictor(tmp_path, "pytorch").format == "pt2"


def test_mlflow_steps_reads_each_nested_step(tmp_path):
    import mlflow

    from components.common.tracking import pipeline_run, step_run

    with pipeline_run("penguins", "pytorch", tmp_path) as parent:
        for step, seconds in (("ingest", 1.5), ("train", 2.5)):
            with step_run(step, "penguins", tmp_path):
                mlflow.log_metric("step_s", seconds)
        with step_run("evaluate", "penguins", tmp_path):
            mlflow.log_metric("accuracy", 0.9)
    steps = mlflow_steps(tmp_path, parent.info.run_id)
    assert set(steps) == {"ingest", "train", "evaluate"}
    assert step_seconds(steps, "train") == 2.5
    assert step_seconds(steps, "evaluate") is None
