"""Where one tandem ingest run spends its time: cProfile of `run_ingest` on the synthetic data.

    python -m benchmarks.profile_ingest --rows 1000000 --top 40

The local runner (FnApiRunner, in_memory, one worker) runs the DoFns in this process, so the
profile sees them. One untimed run first warms the page cache and imports. The raw stats go to
benchmarks/data/profiles/ (git-ignored) for `python -m pstats` or snakeviz.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

from benchmarks import DATA_DIR
from benchmarks.synthetic import make_dataset
from components.ingest.run import run_ingest
from components.spec import load_spec


def profile(rows: int, top: int, sort: str) -> Path:
    loaded = load_spec(make_dataset(rows, DATA_DIR))
    work_dir = DATA_DIR / "tmp"
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as out:
        run_ingest(loaded, Path(out), track=False)
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(dir=work_dir) as out:
        result = profiler.runcall(run_ingest, loaded, Path(out), track=False)
    assert result.cache_hit is False
    stats_path = DATA_DIR / "profiles" / f"ingest-{rows}.prof"
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(stats_path)
    print(f"timings: {result.timings}")
    pstats.Stats(profiler).sort_stats(sort).print_stats(top)
    return stats_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_ingest")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--top", type=int, default=40, help="entries to print")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (e.g. tottime)")
    args = parser.parse_args(argv)
    print(f"stats written to {profile(args.rows, args.top, args.sort)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
