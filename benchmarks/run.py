"""Entry point of `make bench`: run the registered benchmarks, print tables, write JSON.

Each benchmark writes benchmarks/results/<name>-<UTC timestamp>.json and latest-<name>.json,
with the facts of the machine it ran on (numbers from different machines do not compare).

    python -m benchmarks.run                      # everything, default sizes
    python -m benchmarks.run --rows 20000         # quick smoke run
    python -m benchmarks.run --only ingest --rows 100000 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.console import Console

from benchmarks import RESULTS_DIR, ingest_bench, tfx_bench, torch_bench


@dataclass(frozen=True)
class Benchmark:
    run: Callable[..., dict]
    render: Callable[[dict, Console], None]


BENCHMARKS: dict[str, Benchmark] = {
    ingest_bench.NAME: Benchmark(run=ingest_bench.run, render=ingest_bench.render),
    tfx_bench.NAME: Benchmark(run=tfx_bench.run, render=tfx_bench.render),
    torch_bench.NAME: Benchmark(run=torch_bench.run, render=torch_bench.render),
}


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_facts(timestamp: datetime) -> dict:
    return {
        "timestamp": timestamp.isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "glibc": os.confstr("CS_GNU_LIBC_VERSION"),
        "platform": platform.platform(),
        "pyarrow": _package_version("pyarrow"),
        "apache-beam": _package_version("apache-beam"),
    }


def write_result(name: str, document: dict, timestamp: datetime, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    path = directory / f"{name}-{timestamp.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text)
    (directory / f"latest-{name}.json").write_text(text)
    return path


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run just this benchmark")
    parser.add_argument(
        "--rows", type=int, nargs="+", metavar="N", help="row counts instead of the defaults"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed rounds after the warm-up (default 3)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3 (a median and a range need them)")
    if args.rows and min(args.rows) < 100:
        parser.error("--rows must be at least 100 (every split needs rows)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    console = Console()
    names = [args.only] if args.only else list(BENCHMARKS)
    for name in names:
        benchmark = BENCHMARKS[name]
        started = datetime.now(UTC)
        result = benchmark.run(rows=args.rows, repeats=args.repeats, console=console)
        document = {
            "benchmark": name,
            "machine": machine_facts(started),
            "arguments": {"rows": args.rows, "repeats": args.repeats},
            "result": result,
        }
        benchmark.render(result, console)
        path = write_result(name, document, started, RESULTS_DIR)
        console.print(f"Results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
