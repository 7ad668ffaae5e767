"""The comparison reads its numbers from a real MLflow store, picks the right runs, and logs
the report back."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from components.common.errors import TandemError
from components.common.tracking import TAG_STEP
from components.compare.report import build_comparison, log_report, write_report
from components.evaluate.predictions import PREDICTIONS_FILE
from tests.components.compare.runs import (
    ACCURACY,
    SAMPLES_PER_S,
    TEST_ROWS,
    log_group,
    log_pipeline_run,
)

EXPERIMENT = "tandem-toy"


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, MlflowClient, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=(tmp_path / "artifacts").as_uri()
    )
    return uri, client, experiment_id


def test_numbers_are_the_mlflow_metrics_they_come_from(store):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1")
    comparison = build_comparison(uri, EXPERIMENT)
    by_metric = {metric.metric: metric for metric in comparison.metrics}
    for framework in ("tensorflow", "pytorch"):
        accuracy = getattr(by_metric["accuracy"], framework)
        assert sorted(accuracy.values) == sorted(ACCURACY[framework])
        assert accuracy.mean == pytest.approx(sum(ACCURACY[framework]) / 3)
        throughput = getattr(by_metric["train.samples_per_s"], framework)
        assert sorted(throughput.values) == sorted(SAMPLES_PER_S[framework])
    assert set(by_metric) == {"accuracy", "train.samples_per_s"}  # only what both logged
    (biscoe,) = comparison.slices
    assert biscoe.metric == "slice.island.Biscoe.accuracy"
    assert biscoe.pytorch.mean == pytest.approx(0.97)
    run = comparison.runs_of("pytorch")[0]
    assert run.train.history["train_loss"] == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert comparison.audit_passed, [i for i in comparison.audit if not i.passed]


def test_an_unfair_pair_is_flagged_in_red_at_the_top_of_the_report(store, tmp_path):
    """PyTorch trained a bigger network: the audit fails and the report says so first."""
    uri, client, experiment_id = store
    bigger = {"hidden_sizes": "[64, 32]", "parameter_count": "2947"}
    log_group(client, experiment_id, "g1", params={"pytorch": bigger})
    comparison = build_comparison(uri, EXPERIMENT)
    failed = {item.name for item in comparison.audit if not item.passed}
    assert failed == {
        "Parameter counts within 5%",
        "Same architecture, optimizer, batch size and epochs",
    }
    html = write_report(comparison, tmp_path / "report.html").html.read_text()
    banner = html.index("Fairness audit failed: 2 item(s)")
    assert banner < html.index("<h2>Side by side</h2>")
    first = comparison.verdict[0]
    assert first.topic == "audit"
    assert "Parameter counts within 5% (largest relative difference" in first.text
    assert html.index(first.text.split(" — ")[0]) < banner


def test_each_framework_shows_the_architecture_its_first_seed_logged(store):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1", seeds=(2, 1), architectures=("tensorflow",))
    comparison = build_comparison(uri, EXPERIMENT)
    assert comparison.architectures == {"tensorflow": "tensorflow seed 1", "pytorch": None}


def test_the_newest_run_group_is_compared_unless_one_is_named(store):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1", seeds=(0, 1))
    log_group(client, experiment_id, "g2", seeds=(0, 1, 2))
    assert len(build_comparison(uri, EXPERIMENT).runs) == 6
    assert len(build_comparison(uri, EXPERIMENT, run_group="g1").runs) == 4
    with pytest.raises(TandemError, match="groups in this experiment: g1, g2"):
        build_comparison(uri, EXPERIMENT, run_group="g3")


def test_frameworks_run_separately_are_compared_together(store):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1", frameworks=("tensorflow",))
    log_group(client, experiment_id, "g2", frameworks=("pytorch",))
    comparison = build_comparison(uri, EXPERIMENT)
    assert comparison.run_group == "g1 + g2"
    assert len(comparison.runs) == 6


def test_one_framework_without_runs_is_a_clear_error(store):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1", frameworks=("tensorflow",))
    with pytest.raises(TandemError) as error:
        build_comparison(uri, EXPERIMENT)
    message = str(error.value)
    assert "no finished pytorch pipeline runs" in message
    assert "tensorflow (3 runs)" in message
    assert "tandem run --framework pytorch" in message


def test_an_unknown_experiment_is_a_clear_error(store):
    uri, _, _ = store
    with pytest.raises(TandemError, match="no experiment 'tandem-other'"):
        build_comparison(uri, "tandem-other")


def test_the_report_is_written_and_logged_as_a_compare_run(store, tmp_path):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1")
    comparison = build_comparison(uri, EXPERIMENT)
    files = write_report(comparison, tmp_path / "out" / "report.html")
    assert files.html.read_text().startswith("<!DOCTYPE html>")
    assert files.html.with_suffix(".json").is_file()
    run_id = log_report(comparison, files)
    run = client.get_run(run_id)
    assert run.data.tags[TAG_STEP] == "compare"
    assert run.data.metrics["accuracy.pytorch_mean"] == pytest.approx(0.98)
    assert run.data.metrics["accuracy.p_holm"] == comparison.metrics[0].p_value
    ratio = run.data.metrics["train.samples_per_s.pytorch_over_tensorflow"]
    assert ratio == pytest.approx(4000 / 5100)
    verdict = client.download_artifacts(run_id, "verdict.txt", str(tmp_path))
    assert Path(verdict).read_text().splitlines() == [line.text for line in comparison.verdict]
    logged = {artifact.path for artifact in client.list_artifacts(run_id)}
    assert {"report.html", "report.json", "plots"} <= logged
    assert len(client.list_artifacts(run_id, "plots")) == len(files.plots)
    # The compare run is not a pipeline run: comparing again sees the same runs.
    assert len(build_comparison(uri, EXPERIMENT).runs) == 6


def test_pipeline_cost_is_wall_less_the_steps_own_seconds(store) -> None:
    """wall_s from the parent run, stages_s the sum of the steps' step_s, overhead_s the rest;
    a parent run without a wall time adds no cost values."""
    uri, client, experiment_id = store
    walls = {"tensorflow": [20.0, 22.0, 21.0], "pytorch": [30.0, 34.0, 32.0]}
    for framework, wall_list in walls.items():
        for seed, wall in enumerate(wall_list):
            log_pipeline_run(
                client,
                experiment_id,
                framework,
                seed,
                evaluate_metrics={"accuracy": 0.9, "step_s": 1.5},
                train_metrics={"samples_per_s": 1000.0, "step_s": 4.0 + seed},
                curves={},
                group="g",
                parent_metrics={"pipeline_wall_s": wall},
            )
    log_pipeline_run(
        client, experiment_id, "pytorch", 3, {"accuracy": 0.9}, {}, {}, group="g"
    )  # logged no wall time

    comparison = build_comparison(uri, EXPERIMENT, "g")

    by_metric = {m.metric: m for m in comparison.metrics}
    assert by_metric["pipeline.wall_s"].tensorflow.values == (20.0, 22.0, 21.0)
    assert by_metric["pipeline.stages_s"].pytorch.values == (5.5, 6.5, 7.5)
    assert by_metric["pipeline.overhead_s"].tensorflow.values == (14.5, 15.5, 13.5)
    assert by_metric["pipeline.overhead_s"].pytorch.values == (24.5, 27.5, 24.5)


def test_quality_is_judged_paired_on_the_logged_test_rows(store):
    """Each evaluate run's predictions.parquet is read back: the accuracy intervals come from
    resampling its 100 rows (inside [0, 1]) and McNemar's test sees TensorFlow wrong where
    PyTorch is right on 7, 6 and 4 rows of the three seed pairs."""
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1")
    comparison = build_comparison(uri, EXPERIMENT)
    accuracy = comparison.metrics[0]
    assert (accuracy.metric, comparison.test_rows) == ("accuracy", TEST_ROWS)
    for summary in (accuracy.tensorflow, accuracy.pytorch):
        assert 0 <= summary.ci_low < summary.mean < summary.ci_high <= 1
    assert accuracy.test.startswith("McNemar")
    assert accuracy.p_raw == pytest.approx(stats.binomtest(0, 17, 0.5).pvalue)
    assert accuracy.better == "pytorch"
    throughput = comparison.metrics[1]
    assert throughput.ratio.estimate == pytest.approx(4000 / 5100)
    assert throughput.p_value is None


def test_a_run_without_predictions_is_a_clear_error(store):
    uri, client, experiment_id = store
    log_group(client, experiment_id, "g1")
    evaluate = next(
        run
        for run in client.search_runs([experiment_id])
        if run.data.tags.get(TAG_STEP) == "evaluate"
    )
    artifacts = Path(urlparse(evaluate.info.artifact_uri).path)
    (artifacts / PREDICTIONS_FILE).unlink()
    with pytest.raises(TandemError, match=r"logged no predictions.parquet, which the paired"):
        build_comparison(uri, EXPERIMENT)
