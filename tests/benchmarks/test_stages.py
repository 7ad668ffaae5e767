"""The PyTorch pipeline's breakdown: kfp.local's step processes clocked, and the wall split into
step_s and fixed-cost phases that add up to it; TFX's in-process nodes' memory."""

# No `from __future__ import annotations`: kfp reads the component's real type hints.

from types import SimpleNamespace

import pytest
from kfp import dsl, local

from benchmarks.stages import kfp_task_times, tfx_node_times, torch_phases


def _span(step: str, start: float, end: float, step_s: float) -> dict:
    return {"step": step, "start": start, "end": end, "step_s": step_s}


def test_phases_add_up_to_the_wall_and_assign_runs_to_their_step_process():
    tasks = [
        {"task": "ingest_snapshot", "start": 2.0, "end": 5.0},
        {"task": "judge_and_register", "start": 5.5, "end": 12.0},
        {"task": "push_model", "start": 12.5, "end": 13.0},
    ]
    spans = [
        _span("ingest", 3.0, 4.0, 0.5),
        _span("evaluate", 7.5, 8.0, 2.0),  # the judge opens its run at the end of its work
        _span("register", 8.5, 10.0, 1.5),
    ]
    phases = torch_phases(0.0, 14.0, tasks, spans)
    seconds = {phase["phase"]: phase["s"] for phase in phases}
    assert sum(seconds.values()) == pytest.approx(14.0)
    assert seconds == pytest.approx(
        {
            "parent run, compile, kfp.local start": 2.0,
            "ingest_snapshot: start-up": 1.5,
            "ingest_snapshot: ingest step_s": 0.5,
            "ingest_snapshot: exit and outputs": 1.0,
            "kfp.local between steps": 1.0,  # two gaps of 0.5 s, one row
            "judge_and_register: start-up": 0.5,
            "judge_and_register: evaluate step_s": 2.0,
            "judge_and_register: between steps, before register": 0.5,
            "judge_and_register: register step_s": 1.5,
            "judge_and_register: exit and outputs": 2.0,
            "push_model: whole step (no step run)": 0.5,
            "after the last step (parent run end)": 1.0,
        }
    )
    own = [phase["phase"] for phase in phases if phase["own"]]
    assert own == [
        "ingest_snapshot: ingest step_s",
        "judge_and_register: evaluate step_s",
        "judge_and_register: register step_s",
    ]


def test_a_torchx_launch_splits_the_train_steps_start_up_and_tail():
    tasks = [{"task": "train_model", "start": 1.0, "end": 10.0}]
    spans = [_span("train", 4.0, 8.0, 4.0)]
    launches = {"train_model": {"start": 2.0, "end": 9.0}}
    phases = torch_phases(0.0, 11.0, tasks, spans, launches)
    assert [(phase["phase"], phase["s"]) for phase in phases] == [
        ("parent run, compile, kfp.local start", 1.0),
        ("train_model: start-up to the TorchX launch", 1.0),
        ("train_model: TorchX launch to rank 0's clock (torchrun, ranks' start-up)", 2.0),
        ("train_model: train step_s", 4.0),
        ("train_model: rank 0's run end to the launch's end (ranks' and torchrun's exit)", 1.0),
        ("train_model: exit and outputs", 1.0),
        ("after the last step (parent run end)", 1.0),
    ]


def _double(number: int) -> int:
    return number * 2


@pytest.mark.e2e
def test_kfp_task_times_clock_each_step_process(tmp_path):
    double = dsl.component(_double, base_image="python:3.11", install_kfp_package=False)

    @dsl.pipeline(name="two-steps")
    def two_steps() -> int:
        first = double(number=1)
        return double(number=first.output).output

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    with kfp_task_times() as tasks:
        assert two_steps().output == 4
    assert [task["task"] for task in tasks] == ["_double", "_double"]
    assert all(task["start"] < task["end"] for task in tasks)
    assert tasks[0]["end"] <= tasks[1]["start"]


def _launcher(node_id: str) -> SimpleNamespace:
    return SimpleNamespace(_pipeline_node=SimpleNamespace(node_info=SimpleNamespace(id=node_id)))


@pytest.mark.slow
def test_tfx_node_times_record_each_nodes_start_and_peak_rss(monkeypatch):
    from tfx.orchestration.portable.launcher import Launcher

    held = []

    def executor(self, execution_info):
        held.append(bytearray(64 * 2**20))  # kept, as a node's leftovers stay in the process

    monkeypatch.setattr(Launcher, "_run_executor", executor)
    with tfx_node_times() as nodes:
        for node_id in ("ExampleGen", "StatisticsGen"):
            Launcher._run_executor(_launcher(node_id), None)
    assert Launcher._run_executor is executor
    first, second = nodes["ExampleGen"], nodes["StatisticsGen"]
    held.clear()
    # The second node starts holding the first one's 64 MiB; what it adds itself stays 64 MiB.
    assert second["start_rss_mb"] > first["start_rss_mb"] + 32
    for node in (first, second):
        assert 32 < node["peak_rss_mb"] - node["start_rss_mb"] < 96
