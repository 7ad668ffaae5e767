"""The custom_config dictionaries TFX hands to `preprocessing_fn` and `run_fn`, built from a spec.

TFX serialises custom_config as JSON, so both carry plain data: the spec itself as a dict (the
dataset section is enough for Transform). No TensorFlow here: the pipeline imports this module to
build its components.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.common.custom_models import module_digest
from components.spec import CustomModel, DatasetSpec, Spec

DATASET_KEY = "dataset"
SPEC_KEY = "spec"
SEED_KEY = "seed"
RUNS_DIR_KEY = "runs_dir"
TENSORBOARD_ROOT_KEY = "tensorboard_root"
RUN_NAME_KEY = "run_name"
TAGS_KEY = "tags"
TRACK_KEY = "track"
SNAPSHOT_KEY = "snapshot_dir"
BUILDER_DIGEST_KEY = "builder_digest"

INPUTS = "inputs"
LABEL = "label"


def transform_config(spec: Spec, snapshot_dir: str | None = None) -> dict[str, Any]:
    """custom_config for TFX's Transform: {"dataset": <the spec's dataset section>}, and for a
    text feature the snapshot directory, whose tokenizer vocabulary the graph embeds."""
    config: dict[str, Any] = {DATASET_KEY: spec.dataset.model_dump(mode="json")}
    if spec.dataset.input_kind == "text":
        if snapshot_dir is None:
            raise ValueError("a text dataset's transform needs the snapshot (its tokenizer)")
        config[SNAPSHOT_KEY] = str(snapshot_dir)
    return config


def trainer_config(
    spec: Spec,
    runs_dir: str | None = None,
    seed: int | None = None,
    tensorboard_root: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    track: bool = True,
    snapshot_dir: str | None = None,
) -> dict[str, Any]:
    """custom_config for TFX's Trainer.

    runs_dir          where MLflow's embedded store lives when MLFLOW_TRACKING_URI is unset
                      (default: the Trainer's model_run_dir);
    seed              default: the spec's first seed;
    tensorboard_root  a log root shared with the PyTorch side: logs also go to
                      <root>/tensorflow/<run_name>;
    run_name          names the TensorBoard run (default: the MLflow run id, else "seed-<seed>");
    tags              extra MLflow tags of the train step's run;
    track             False: no MLflow run (TensorBoard and the export still happen);
    snapshot_dir      the shared snapshot: its test rows, encoded by Transform, are logged as
                      the run's input probe (the comparison's normalisation check).

    For a custom pair it also holds the digest of the Keras builder's module (when found), so
    TFX's cache, keyed on custom_config, retrains after that code changes.
    """
    config: dict[str, Any] = {SPEC_KEY: spec.model_dump(mode="json"), TRACK_KEY: track}
    optional = {
        RUNS_DIR_KEY: runs_dir,
        SEED_KEY: seed,
        TENSORBOARD_ROOT_KEY: tensorboard_root,
        RUN_NAME_KEY: run_name,
        TAGS_KEY: tags,
        SNAPSHOT_KEY: snapshot_dir,
    }
    if isinstance(spec.training.model, CustomModel):
        optional[BUILDER_DIGEST_KEY] = module_digest(spec.training.model.tensorflow)
    config.update({key: value for key, value in optional.items() if value is not None})
    return config


def _as_dict(value: Any, key: str) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ValueError(f"custom_config['{key}'] must be a dict or its JSON string")
    return value


def dataset_from_config(custom_config: dict[str, Any] | str | None) -> DatasetSpec:
    """The dataset spec from custom_config's "dataset" (or a whole "spec"), validated."""
    config = _as_dict(custom_config or {}, "custom_config")
    if DATASET_KEY in config:
        return DatasetSpec.model_validate(_as_dict(config[DATASET_KEY], DATASET_KEY))
    if SPEC_KEY in config:
        return spec_from_config(config).dataset
    raise ValueError(
        "custom_config needs 'dataset' (the spec's dataset section) or 'spec' (the whole spec); "
        "build it with components.tf_trainer.config.transform_config(spec)"
    )


def spec_from_config(custom_config: dict[str, Any] | str | None) -> Spec:
    """The whole spec from custom_config's "spec", validated."""
    config = _as_dict(custom_config or {}, "custom_config")
    if SPEC_KEY not in config:
        raise ValueError(
            "custom_config needs 'spec' (the whole spec as a dict); "
            "build it with components.tf_trainer.config.trainer_config(spec, ...)"
        )
    return Spec.model_validate(_as_dict(config[SPEC_KEY], SPEC_KEY))


def snapshot_from_config(custom_config: dict[str, Any] | str | None) -> Path:
    """The snapshot directory custom_config names (a text dataset's Transform, the Trainer)."""
    config = _as_dict(custom_config or {}, "custom_config")
    if SNAPSHOT_KEY not in config:
        raise ValueError(f"custom_config needs '{SNAPSHOT_KEY}', the ingest snapshot directory")
    return Path(config[SNAPSHOT_KEY])


def seed_from_config(custom_config: dict[str, Any], spec: Spec) -> int:
    seed = custom_config.get(SEED_KEY)
    return spec.training.seed_or_default(seed)
