"""Where a pipeline run's time went, stage by stage, as each stage measured it.

tandem's own steps (ingest, train, evaluate, register/push) log `step_s` — the wall seconds of
the step's own work, measured inside the step — to their nested MLflow run under the pipeline's
parent run; `mlflow_steps` reads them back.

TFX's built-in components log nothing of the kind. ML Metadata's execution create / last-update
times would include TFX's driver and publisher for the node, so `tfx_node_times` measures
instead, in this process (LocalDagRunner runs every node in-process, one after another): the
executor call of each node (`executor_s`: the component's own work) and the node's whole launch
(`node_s`: + input resolution, driver, MLMD publishing, output-directory bookkeeping).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STEP_SECONDS = "step_s"


def mlflow_steps(output_dir: Path, parent_run_id: str) -> dict[str, dict[str, float]]:
    """tandem.step → the metrics of that nested run (step_s among them, once logged)."""
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from components.common.tracking import TAG_STEP, tracking_uri

    client = MlflowClient(tracking_uri(output_dir))
    experiment = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"
    )
    return {run.data.tags.get(TAG_STEP, run.info.run_name): dict(run.data.metrics) for run in runs}


def step_seconds(steps: dict[str, dict[str, float]], step: str) -> float | None:
    return steps.get(step, {}).get(STEP_SECONDS)


@contextmanager
def tfx_node_times() -> Iterator[dict[str, dict[str, float]]]:
    """While open, every TFX node this process launches adds {executor_s, node_s} under its id."""
    from tfx.orchestration.portable.launcher import Launcher

    times: dict[str, dict[str, float]] = {}
    original_launch, original_run = Launcher.launch, Launcher._run_executor

    def node_id(launcher) -> str:
        return launcher._pipeline_node.node_info.id

    def launch(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original_launch(self, *args, **kwargs)
        finally:
            times.setdefault(node_id(self), {})["node_s"] = time.perf_counter() - started

    def run_executor(self, execution_info):
        started = time.perf_counter()
        try:
            return original_run(self, execution_info)
        finally:
            times.setdefault(node_id(self), {})["executor_s"] = time.perf_counter() - started

    Launcher.launch, Launcher._run_executor = launch, run_executor
    try:
        yield times
    finally:
        Launcher.launch, Launcher._run_executor = original_launch, original_run
