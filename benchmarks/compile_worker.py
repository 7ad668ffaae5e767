"""Peak RSS of training one network in one compile mode, alone in a fresh process.

    python -m benchmarks.compile_worker --framework pytorch --mode compile \\
        --training T.json --input I.json --data D.npz --classes 3 --out R.json

T.json is a `TrainingSpec` (its model family and batch size), I.json the `NetworkInput`
(`compile_training.input_to_json`), D.npz the network's inputs `x` (tabular rows, normalised
arrays or int64 token ids, as that input reads them) and labels `y`. The process imports only its
framework, loads the arrays and builds the network (`benchmarks.compile_training`, as the compile
benchmark does), then starts a new peak window (`reset_peak_rss`: its return is the start
figure, imports, arrays and weights included) and trains: the first step (compiling, in a
compiled mode) and one epoch over the arrays. The peak is the process's high-water mark over that
training; peak - start is what training added.
Inductor compiles in worker processes of its own, which this process's RSS does not count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.compile_training import (
    KERAS_MODES,
    TORCH_MODES,
    inductor_cache_counts,
    inductor_cache_since,
    input_from_json,
    keras_trainers,
    torch_trainers,
)
from components.common.architectures import NetworkInput
from components.common.resources import peak_rss_mb, reset_peak_rss
from components.spec import TrainingSpec


def train(
    framework: str,
    mode: str,
    training: TrainingSpec,
    network_input: NetworkInput,
    data: Path,
    n_classes: int,
) -> dict:
    arrays = np.load(data)
    x, y = arrays["x"], arrays["y"]
    build = torch_trainers if framework == "pytorch" else keras_trainers
    trainer = build(training, network_input, x, y, n_classes, [mode])[mode]
    cache = inductor_cache_counts() if framework == "pytorch" else None
    start = reset_peak_rss()
    trainer.first_step()
    trainer.epoch()
    peak = peak_rss_mb()
    result = {
        "framework": framework,
        "mode": mode,
        "steps": 1 + trainer.steps,
        "start_rss_mb": start,
        "peak_rss_mb": peak,
        "increase_mb": None if start is None else peak - start,
    }
    if cache is not None:
        result["inductor_cache"] = inductor_cache_since(cache)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_worker")
    parser.add_argument("--framework", required=True, choices=["pytorch", "tensorflow"])
    parser.add_argument("--mode", required=True, choices=[*TORCH_MODES, *KERAS_MODES])
    parser.add_argument("--training", required=True, type=Path)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--classes", required=True, type=int)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    modes = TORCH_MODES if args.framework == "pytorch" else KERAS_MODES
    if args.mode not in modes:
        parser.error(f"--mode {args.mode} is not a {args.framework} mode: one of {list(modes)}")
    training = TrainingSpec.model_validate_json(args.training.read_text())
    network_input = input_from_json(args.input.read_text())
    result = train(args.framework, args.mode, training, network_input, args.data, args.classes)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
