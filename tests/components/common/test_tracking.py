"""MLflow conventions: the pipeline's parent run, its tags, and steps nesting under it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from components.common.tracking import (
    TAG_FINGERPRINT,
    TAG_FRAMEWORK,
    TAG_GIT_REVISION,
    TAG_PIPELINE_RUN_ID,
    experiment_name,
    pipeline_run,
    step_run,
    tag_pipeline_run,
    tracking_uri,
)


def test_steps_nest_under_the_pipeline_run_and_the_environment_is_restored(tmp_path):
    with pipeline_run("penguins", "pytorch", tmp_path, pipeline_run_id="run-7") as parent:
        assert os.environ["MLFLOW_RUN_ID"] == parent.info.run_id
        with step_run("train", "penguins", tmp_path) as step:
            step_id = step.info.run_id
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.environ['MLFLOW_RUN_ID'])"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == parent.info.run_id
        tag_pipeline_run({TAG_FINGERPRINT: "abc123"})
        assert os.environ["MLFLOW_RUN_ID"] == parent.info.run_id
    assert "MLFLOW_RUN_ID" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ

    client = MlflowClient(tracking_uri(tmp_path))
    finished = client.get_run(parent.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.tags[TAG_FRAMEWORK] == "pytorch"
    assert finished.data.tags[TAG_PIPELINE_RUN_ID] == "run-7"
    assert finished.data.tags[TAG_FINGERPRINT] == "abc123"
    assert len(finished.data.tags[TAG_GIT_REVISION]) == 40
    nested = client.get_run(step_id)
    assert nested.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert client.get_experiment(nested.info.experiment_id).name == experiment_name("penguins")


def test_a_failing_pipeline_run_is_marked_failed(tmp_path):
    with pytest.raises(RuntimeError), pipeline_run("penguins", "tensorflow", tmp_path) as parent:
        raise RuntimeError("training diverged")
    status = MlflowClient(tracking_uri(tmp_path)).get_run(parent.info.run_id).info.status
    assert status == "FAILED"


def test_git_revision_comes_from_the_image_when_set(monkeypatch):
    from components.common.tracking import git_revision

    monkeypatch.setenv("TANDEM_GIT_REVISION", "f00dcafe")
    assert git_revision() == "f00dcafe"
