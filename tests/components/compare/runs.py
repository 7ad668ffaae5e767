"""Pipeline runs for the comparison's tests: as `PipelineRun`s, or logged to a real MLflow store
with the tags, params, metrics and artifacts the pipelines log."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from components.common.input_probe import PROBE_ARTIFACT
from components.common.layer_summary import ARTIFACT as ARCHITECTURE_ARTIFACT
from components.common.run_environment import TAG_PREFIX
from components.common.tracking import (
    TAG_FINGERPRINT,
    TAG_FRAMEWORK,
    TAG_RUN_GROUP,
    TAG_SEED,
    TAG_STEP,
)
from components.compare.model import PipelineRun, StepRun
from components.evaluate.predictions import PREDICTIONS_FILE, build_predictions, write_predictions

FINGERPRINT = "ab" * 32
PROBE = {"ids": ["r1", "r2"], "names": ["x", "k=a"], "inputs": [[0.5, 1.0], [-1.25, 0.0]]}
TEST_ROWS = 100
ACCURACY = {"tensorflow": [0.90, 0.92, 0.95], "pytorch": [0.97, 0.98, 0.99]}
SAMPLES_PER_S = {"tensorflow": [5000.0, 5200.0, 5100.0], "pytorch": [4000.0, 4100.0, 3900.0]}
CLASSES = ("Adelie", "Gentoo")
HARDWARE = {"cpu_model": "Test CPU", "cpus": "2", "memory_gib": "8.0", "accelerators": "none"}
VERSIONS = {"tensorflow": {"tensorflow": "2.21.0"}, "pytorch": {"torch": "2.13.0"}}


def train_params(
    seed: int, hidden_sizes=(16, 8), parameter_count: int = 323, model: str = "mlp"
) -> dict[str, str]:
    return {
        "model": model,
        "hidden_sizes": str(list(hidden_sizes)),
        "optimizer": "adam",
        "learning_rate": "0.01",
        "adam_epsilon": "1e-07",
        "batch_size": "16",
        "epochs": "3",
        "seed": str(seed),
        "parameter_count": str(parameter_count),
    }


def train_tags(framework: str, hardware: dict | None = None) -> dict[str, str]:
    facts = {"python": "3.11.7", **VERSIONS[framework], **(hardware or HARDWARE)}
    return {TAG_STEP: "train", **{TAG_PREFIX + key: value for key, value in facts.items()}}


def pipeline_run(
    framework: str,
    seed: int,
    accuracy: float = 0.95,
    fingerprint: str = FINGERPRINT,
    hidden_sizes=(16, 8),
    parameter_count: int = 323,
    hardware: dict | None = None,
    train_examples: float = 247.0,
    model: str = "mlp",
) -> PipelineRun:
    return PipelineRun(
        framework=framework,
        seed=seed,
        run_id=f"{framework}-{seed}",
        run_name=f"{framework}-{seed}",
        tags={TAG_FRAMEWORK: framework, TAG_FINGERPRINT: fingerprint, TAG_SEED: str(seed)},
        train=StepRun(
            run_id=f"train-{framework}-{seed}",
            params=train_params(seed, hidden_sizes, parameter_count, model),
            metrics={"samples_per_s": 1000.0, "train_examples": train_examples},
            tags=train_tags(framework, hardware),
        ),
        evaluate=StepRun(
            run_id=f"evaluate-{framework}-{seed}",
            params={},
            metrics={"accuracy": accuracy, "test_examples": 44.0},
            tags={TAG_STEP: "evaluate"},
        ),
    )


def fair_pair(seeds=(0, 1, 2)) -> list[PipelineRun]:
    return [
        pipeline_run(framework, seed) for framework in ("tensorflow", "pytorch") for seed in seeds
    ]


def predictions_table(accuracy: float, rows: int = TEST_ROWS):
    """The predictions.parquet of a binary model right on the first round(accuracy * rows) rows
    (rows alternate between the two classes), so its accuracy is exactly `accuracy`."""
    labels = np.arange(rows) % 2
    right = np.arange(rows) < round(accuracy * rows)
    chosen = np.where(right, labels, 1 - labels)
    probabilities = np.full((rows, 2), 0.2)
    probabilities[np.arange(rows), chosen] = 0.8
    ids = [f"row-{i:03d}" for i in range(rows)]
    return build_predictions(ids, [CLASSES[i] for i in labels], probabilities, CLASSES)


def log_pipeline_run(
    client,
    experiment_id: str,
    framework: str,
    seed: int,
    evaluate_metrics: dict[str, float],
    train_metrics: dict[str, float],
    curves: dict[str, list[float]],
    group: str | None = None,
    probe: dict | None = None,
    params: dict[str, str] | None = None,
    parent_metrics: dict[str, float] | None = None,
    architecture: str | None = None,
) -> str:
    """A parent run with nested train and evaluate runs, as a pipeline leaves them; `params`
    replace train params; `architecture` is the train run's architecture summary, if any. The
    evaluate run logs the predictions of a model with its `accuracy` (`predictions_table`)."""
    parent_tags = {TAG_FRAMEWORK: framework, TAG_SEED: str(seed), TAG_FINGERPRINT: FINGERPRINT}
    if group:
        parent_tags[TAG_RUN_GROUP] = group
    parent = client.create_run(experiment_id, run_name=f"{framework}-{seed}", tags=parent_tags)
    nested = {"mlflow.parentRunId": parent.info.run_id}
    train = client.create_run(
        experiment_id, run_name="train", tags={**nested, **train_tags(framework)}
    )
    for key, value in {**train_params(seed), **(params or {})}.items():
        client.log_param(train.info.run_id, key, value)
    for key, value in train_metrics.items():
        client.log_metric(train.info.run_id, key, value)
    for key, values in curves.items():
        for epoch, value in enumerate(values):
            client.log_metric(train.info.run_id, key, value, step=epoch)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / PROBE_ARTIFACT
        path.write_text(json.dumps(probe or PROBE))
        client.log_artifact(train.info.run_id, str(path))
    if architecture is not None:
        client.log_text(train.info.run_id, architecture, ARCHITECTURE_ARTIFACT)
    evaluate = client.create_run(
        experiment_id, run_name="evaluate", tags={**nested, TAG_STEP: "evaluate"}
    )
    for key, value in evaluate_metrics.items():
        client.log_metric(evaluate.info.run_id, key, value)
    with tempfile.TemporaryDirectory() as scratch:
        table = predictions_table(evaluate_metrics.get("accuracy", 0.95))
        path = write_predictions(table, Path(scratch) / PREDICTIONS_FILE)
        client.log_artifact(evaluate.info.run_id, str(path))
    for key, value in (parent_metrics or {}).items():
        client.log_metric(parent.info.run_id, key, value)
    for run in (train, evaluate, parent):
        client.set_terminated(run.info.run_id)
    return parent.info.run_id


def log_group(
    client,
    experiment_id,
    group,
    frameworks=("tensorflow", "pytorch"),
    seeds=(0, 1, 2),
    params: dict[str, dict[str, str]] | None = None,
    architectures: tuple[str, ...] = ("tensorflow", "pytorch"),
):
    """`architectures`: the frameworks whose train runs log an architecture summary."""
    for framework in frameworks:
        for index, seed in enumerate(seeds):
            log_pipeline_run(
                client,
                experiment_id,
                framework,
                seed,
                evaluate_metrics={
                    "accuracy": ACCURACY[framework][index],
                    "slice.island.Biscoe.accuracy": ACCURACY[framework][index] - 0.01,
                    "test_examples": 44.0,
                },
                train_metrics={
                    "samples_per_s": SAMPLES_PER_S[framework][index],
                    "train_examples": 247.0,
                },
                curves={"train_loss": [1.0, 0.5, 0.25], "val_accuracy": [0.5, 0.8, 0.9]},
                group=group,
                params=(params or {}).get(framework),
                architecture=f"{framework} seed {seed}" if framework in architectures else None,
            )
