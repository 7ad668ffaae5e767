"""One measured job per fresh process, so its peak RSS holds only its own framework's imports.

    python -m benchmarks.footprint_worker train-tensorflow --spec S --snapshot D --out R.json
    python -m benchmarks.footprint_worker serve --framework pytorch --model-dir M \\
        --snapshot D --calls 200 --out R.json

Peak RSS is the process's lifetime high-water mark, imports included (neither job calls the
steps' `reset_peak_rss`). train-tensorflow runs `train_bare` (Keras fit, no TFX); the PyTorch
training job is `benchmarks.bare_torch` itself (also one fresh process). serve loads the export
through the evaluator's own adapter (`load_predictor`) and times real predict calls on test
rows at batch 1 and 256 (`measure_latency`), as the shared evaluation step does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from components.common.resources import peak_rss_mb

LATENCY_BATCHES = (1, 256)


def train_tensorflow(spec_path: Path, snapshot_dir: Path) -> dict:
    from benchmarks.bare_keras import train_bare
    from components.spec import load_spec

    with tempfile.TemporaryDirectory() as out:
        report = train_bare(snapshot_dir, load_spec(spec_path).spec, out)
    return {"samples_per_s": report["samples_per_s"], "peak_rss_mb": peak_rss_mb()}


def serve(framework: str, model_dir: Path, snapshot_dir: Path, calls: int) -> dict:
    import pyarrow.parquet as pq

    from components.evaluate.latency import batch_of, measure_latency, model_size_bytes
    from components.export import load_predictor

    rss_before_load = peak_rss_mb()
    predictor = load_predictor(model_dir, framework)
    test = pq.read_table(snapshot_dir / "test")
    latency = {}
    for size in LATENCY_BATCHES:
        batch = batch_of(test, size)
        latency[f"batch_{size}"] = measure_latency(lambda b=batch: predictor.predict(b), calls)
    return {
        "format": predictor.format,
        "latency": latency,
        "model_size_bytes": model_size_bytes(model_dir),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_before_load_mb": rss_before_load,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.footprint_worker")
    parser.add_argument("job", choices=["train-tensorflow", "serve"])
    parser.add_argument("--spec", type=Path)
    parser.add_argument("--snapshot", required=True, type=Path)
    parser.add_argument("--framework", choices=["tensorflow", "pytorch"])
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.job == "train-tensorflow":
        result = train_tensorflow(args.spec, args.snapshot)
    else:
        result = serve(args.framework, args.model_dir, args.snapshot, args.calls)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
