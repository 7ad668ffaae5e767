"""`python -m components.tf_trainer.worker FN_ARGS.json [--weights-out W.npz]`: the Trainer's
`run_fn` as one worker of a multi-worker cluster, outside TFX's executor.

Every worker runs the same command with the same FnArgs; TF_CONFIG tells each its place:
    TF_CONFIG='{"cluster": {"worker": ["host0:2222", "host1:2222"]},
                "task": {"type": "worker", "index": 0}}'
Worker 0 (or a "chief" task when the cluster has one) logs to MLflow and exports to
serving_model_dir; see `trainer`. FN_ARGS.json holds TFX FnArgs fields: train_files, eval_files,
transform_output, serving_model_dir, model_run_dir, custom_config (`config.trainer_config`).
--weights-out writes this worker's final weights (`numpy.savez`, in `model.get_weights()` order),
to check that the workers ended equal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from components.common.errors import TandemError

FN_ARGS_FIELDS = frozenset(
    {
        "train_files",
        "eval_files",
        "transform_output",
        "serving_model_dir",
        "model_run_dir",
        "custom_config",
    }
)


def read_fn_args(path: Path):
    """TFX FnArgs from a JSON object of FN_ARGS_FIELDS (checked before TFX is imported)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TandemError(f"{path}: cannot read the FnArgs JSON ({exc})") from exc
    if not isinstance(document, dict) or not set(document) <= FN_ARGS_FIELDS:
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise TandemError(
            f"{path}: expected a JSON object with keys among {sorted(FN_ARGS_FIELDS)}, "
            f"found {found}"
        )
    from tfx.components.trainer.fn_args_utils import FnArgs

    return FnArgs(**document)


def run_worker(fn_args_path: Path, weights_out: Path | None = None) -> None:
    """run_fn on the FnArgs in fn_args_path; this worker's final weights to weights_out."""
    from components.tf_trainer.trainer import run_fn

    result = run_fn(read_fn_args(fn_args_path))
    if weights_out is not None:
        np.savez(weights_out, *result.model.get_weights())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fn_args", type=Path, help="FnArgs as a JSON object")
    parser.add_argument("--weights-out", type=Path, help="write this worker's final weights")
    args = parser.parse_args(argv)
    try:
        run_worker(args.fn_args, args.weights_out)
    except TandemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
