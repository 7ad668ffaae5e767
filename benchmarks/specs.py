"""The specs the pipeline benchmarks run on: bundled penguins, and the synthetic table with a
training section sized so both pipelines train a million rows in reasonable time here.

At 1M rows the spec trains one epoch with a large global batch (1024, split over the two DDP
processes on the PyTorch side). The gates are lenient on purpose: the synthetic label is a noisy
softmax draw, and a model that is not blessed is never pushed, which would leave the push stage
unmeasured.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import DATA_DIR
from benchmarks.synthetic import make_dataset
from components.spec import (
    EvaluationSpec,
    LoadedSpec,
    TrainingSpec,
    default_spec_path,
    load_spec,
    spec_to_yaml,
)

PENGUINS = "penguins"
SYNTHETIC_TRAINING = TrainingSpec(
    hidden_sizes=[64, 32],
    learning_rate=0.003,
    batch_size=1024,
    epochs=1,
    seeds=[0],
)
SYNTHETIC_EVALUATION = EvaluationSpec(
    thresholds={"accuracy": 0.34}, regression_tolerance=1.0, latency_calls=50
)


def penguins() -> LoadedSpec:
    return load_spec(default_spec_path())


def synthetic(rows: int, epochs: int = 1, directory: Path = DATA_DIR) -> LoadedSpec:
    """The synthetic table of `rows` rows (made once) with the benchmark training section."""
    base = load_spec(make_dataset(rows, directory))
    training = SYNTHETIC_TRAINING.model_copy(update={"epochs": epochs})
    spec = base.spec.model_copy(
        update={
            "name": f"{base.spec.name.replace('synthetic', 'bench')}-e{epochs}",
            "training": training,
            "evaluation": SYNTHETIC_EVALUATION,
        }
    )
    path = base.path.with_name(f"{spec.name}.yaml")
    path.write_text(spec_to_yaml(spec), encoding="utf-8")
    return load_spec(path)
