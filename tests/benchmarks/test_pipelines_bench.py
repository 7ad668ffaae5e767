"""Each stage record carries the stage's peak RSS and the RSS when that peak's window started,
both from the same source."""

from __future__ import annotations

from benchmarks.pipelines_bench import _node_stage, _step_stage

STEPS = {
    "ingest": {"step_s": 2.0, "peak_rss_mb": 900.0, "start_rss_mb": 300.0},
    "train": {"step_s": 5.0, "peak_rss_mb": 2_500.0, "start_rss_mb": 1_700.0},
    # A step that logs its peak but no start yet.
    "evaluate": {"step_s": 1.0, "peak_rss_mb": 1_900.0},
}
NODE = {"executor_s": 6.0, "node_s": 7.0, "peak_rss_mb": 3_000.0, "start_rss_mb": 1_600.0}


def test_a_step_stage_carries_its_runs_peak_and_start():
    assert _step_stage(STEPS, "ingest") == {
        "stage": "ingest",
        "own_s": 2.0,
        "source": "step_s",
        "peak_rss_mb": 900.0,
        "start_rss_mb": 300.0,
    }


def test_a_step_without_a_start_figure_has_none():
    assert _step_stage(STEPS, "evaluate")["start_rss_mb"] is None


def test_tandems_tfx_node_takes_both_figures_from_its_step_run():
    stage = _node_stage(STEPS, "Trainer", NODE)
    assert stage["own_s"] == 5.0
    assert (stage["peak_rss_mb"], stage["start_rss_mb"]) == (2_500.0, 1_700.0)


def test_a_step_run_without_a_start_never_borrows_the_nodes_start():
    stage = _node_stage(STEPS, "SharedEvaluator", NODE)
    assert (stage["peak_rss_mb"], stage["start_rss_mb"]) == (1_900.0, None)


def test_a_built_in_node_takes_both_figures_from_around_its_executor():
    stage = _node_stage(STEPS, "StatisticsGen", NODE)
    assert stage["own_s"] == 6.0 and stage["source"] == "executor_s"
    assert (stage["peak_rss_mb"], stage["start_rss_mb"]) == (3_000.0, 1_600.0)
