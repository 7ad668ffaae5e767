"""Where a pipeline run's time went, stage by stage, as each stage measured it.

tandem's own steps (ingest, train, evaluate, register/push) log `step_s` — the wall seconds of
the step's own work, measured inside the step — to their nested MLflow run under the pipeline's
parent run; `mlflow_steps` reads them back.

TFX's built-in components log nothing of the kind. ML Metadata's execution create / last-update
times would include TFX's driver and publisher for the node, so `tfx_node_times` measures
instead, in this process (LocalDagRunner runs every node in-process, one after another): the
executor call of each node (`executor_s`: the component's own work) and the node's whole launch
(`node_s`: + input resolution, driver, MLMD publishing, output-directory bookkeeping).

kfp.local starts each step of the PyTorch pipeline as a subprocess; `kfp_task_times` clocks each
one, and `torch_phases` lays those clocks beside the step runs' MLflow start and end times, so the
run's wall splits into the steps' own seconds and every piece of fixed cost between them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STEP_SECONDS = "step_s"
# How a kfp lightweight component's command names the function it runs.
FUNCTION_FLAG = "--function_to_execute"
# The PyTorch pipeline's train step: its component function and its task's output directory.
TRAIN_FUNCTION = "train_model"
TRAIN_TASK_DIR = "train-model"


def _step_runs(output_dir: Path, parent_run_id: str) -> list:
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from components.common.tracking import tracking_uri

    client = MlflowClient(tracking_uri(output_dir))
    experiment = client.get_run(parent_run_id).info.experiment_id
    return client.search_runs(
        [experiment], filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"
    )


def _step_name(run) -> str:
    from components.common.tracking import TAG_STEP

    return run.data.tags.get(TAG_STEP, run.info.run_name)


def mlflow_steps(output_dir: Path, parent_run_id: str) -> dict[str, dict[str, float]]:
    """tandem.step → the metrics of that nested run (step_s among them, once logged)."""
    return {
        _step_name(run): dict(run.data.metrics) for run in _step_runs(output_dir, parent_run_id)
    }


def mlflow_step_spans(output_dir: Path, parent_run_id: str) -> list[dict]:
    """The nested step runs as {step, start, end (epoch seconds), step_s}, oldest first."""
    spans = [
        {
            "step": _step_name(run),
            "start": run.info.start_time / 1000,
            "end": run.info.end_time / 1000,
            "step_s": run.data.metrics.get(STEP_SECONDS),
        }
        for run in _step_runs(output_dir, parent_run_id)
    ]
    return sorted(spans, key=lambda span: span["start"])


def step_seconds(steps: dict[str, dict[str, float]], step: str) -> float | None:
    return steps.get(step, {}).get(STEP_SECONDS)


@contextmanager
def tfx_node_times() -> Iterator[dict[str, dict[str, float]]]:
    """While open, every TFX node this process launches adds {executor_s, node_s, peak_rss_mb,
    start_rss_mb} under its id; peak_rss_mb is this process's high-water mark while the executor
    ran (reset when it starts: TensorFlow's baseline and what earlier nodes still hold count too),
    start_rss_mb its RSS at that reset (absent where the OS cannot reset the peak), so peak -
    start is what the node itself added."""
    from tfx.orchestration.portable.launcher import Launcher

    from components.common.resources import peak_rss_mb, reset_peak_rss
    from components.common.tracking import rss_metrics

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
        start_rss_mb = reset_peak_rss()
        started = time.perf_counter()
        try:
            return original_run(self, execution_info)
        finally:
            node = times.setdefault(node_id(self), {})
            node["executor_s"] = time.perf_counter() - started
            node.update(rss_metrics(peak_rss_mb(), start_rss_mb))

    Launcher.launch, Launcher._run_executor = launch, run_executor
    try:
        yield times
    finally:
        Launcher.launch, Launcher._run_executor = original_launch, original_run


@contextmanager
def kfp_task_times() -> Iterator[list[dict]]:
    """While open, every step kfp.local's SubprocessRunner runs adds {task (the component
    function's name), start, end (epoch seconds)}: the step's subprocess from launch to exit."""
    from kfp.local.subprocess_task_handler import SubprocessTaskHandler

    tasks: list[dict] = []
    original_run = SubprocessTaskHandler.run

    def run(self):
        start = time.time()
        try:
            return original_run(self)
        finally:
            command = self.full_command
            task = command[command.index(FUNCTION_FLAG) + 1] if FUNCTION_FLAG in command else "?"
            tasks.append({"task": task, "start": start, "end": time.time()})

    SubprocessTaskHandler.run = run
    try:
        yield tasks
    finally:
        SubprocessTaskHandler.run = original_run


def torch_phases(
    start: float,
    end: float,
    tasks: list[dict],
    spans: list[dict],
    launches: dict[str, dict] | None = None,
) -> list[dict]:
    """The wall [start, end] of a kfp.local run as consecutive phases {phase, s, own}: own
    phases are the steps' step_s, every other phase is fixed cost; the phases sum to the wall.

    A step run belongs to the task whose subprocess was alive when the run started. Every step
    logs step_s as the last thing in its run, so its own work is the window [run end - step_s,
    run end]. Per task: start-up (process launch to the first step's clock: interpreter, kfp
    executor, module imports), each step's step_s, the gaps between its steps, and the tail (the
    last run's end to the process's exit: outputs, interpreter shutdown). A task in `launches`
    ({start, end} of the TorchX launch inside it) splits its start-up and tail at the launch.
    """
    launches = launches or {}
    phases = [{"phase": "parent run, compile, kfp.local start", "s": _first(tasks, end) - start}]
    previous_end = None
    for task in sorted(tasks, key=lambda found: found["start"]):
        name = task["task"]
        if previous_end is not None:
            phases.append({"phase": "kfp.local between steps", "s": task["start"] - previous_end})
        owned = [span for span in spans if task["start"] <= span["start"] <= task["end"]]
        launch = launches.get(name) if owned else None
        cursor = task["start"]
        if launch:
            label = f"{name}: start-up to the TorchX launch"
            phases.append({"phase": label, "s": launch["start"] - cursor})
            cursor = launch["start"]
        first = "start-up"
        if launch:
            first = "TorchX launch to rank 0's clock (torchrun, ranks' start-up)"
        for index, span in enumerate(owned):
            own = span["step_s"] or 0.0
            label = first if index == 0 else f"between steps, before {span['step']}"
            phases.append({"phase": f"{name}: {label}", "s": span["end"] - own - cursor})
            phases.append({"phase": f"{name}: {span['step']} step_s", "s": own, "own": True})
            cursor = span["end"]
        if launch:
            label = f"{name}: rank 0's run end to the launch's end (ranks' and torchrun's exit)"
            phases.append({"phase": label, "s": launch["end"] - cursor})
            cursor = launch["end"]
        label = "exit and outputs" if owned else "whole step (no step run)"
        phases.append({"phase": f"{name}: {label}", "s": task["end"] - cursor})
        previous_end = task["end"]
    phases.append(
        {"phase": "after the last step (parent run end)", "s": end - (previous_end or start)}
    )
    return [{"own": False, **phase} for phase in _merged(phases)]


def torchx_launches(pipeline_root: Path) -> dict[str, dict]:
    """{"train_model": {start, end}}: the TorchX launch the train step records in its Model
    artifact's metadata (launch_started_at, launch_wall_s), read from its executor output."""
    found = {}
    for output in Path(pipeline_root).glob(f"*/{TRAIN_TASK_DIR}/executor_output.json"):
        artifacts = json.loads(output.read_text())["artifacts"]["model"]["artifacts"]
        metadata = artifacts[0]["metadata"]
        if "launch_started_at" in metadata:
            started = metadata["launch_started_at"]
            found[TRAIN_FUNCTION] = {"start": started, "end": started + metadata["launch_wall_s"]}
    return found


def _first(tasks: list[dict], default: float) -> float:
    return min((task["start"] for task in tasks), default=default)


def _merged(phases: list[dict]) -> list[dict]:
    """Phases of the same name (kfp.local's gaps) summed into one row, first position kept."""
    merged: dict[str, dict] = {}
    for phase in phases:
        if phase["phase"] in merged:
            merged[phase["phase"]]["s"] += phase["s"]
        else:
            merged[phase["phase"]] = dict(phase)
    return list(merged.values())
