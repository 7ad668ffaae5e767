"""tandem's benchmark suite: `make bench` (`python -m benchmarks.run`).

Generated data lives in benchmarks/data/ (regenerated only when missing), results in
benchmarks/results/ (both git-ignored).
"""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
