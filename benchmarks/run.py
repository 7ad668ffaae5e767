"""Entry point of `make bench`: run the registered benchmarks, print tables, write JSON.

Each benchmark writes benchmarks/results/<name>-<UTC timestamp>.json and latest-<name>.json,
with the facts of the machine it ran on (numbers from different machines do not compare).

    python -m benchmarks.run                      # everything, default sizes (~30 min here)
    python -m benchmarks.run --quick              # tiny sizes, one round: a smoke run
    python -m benchmarks.run --only ingest --rows 100000 1000000 --repeats 5
    python -m benchmarks.run --only scale         # 100k, 1M, 10M rows: not in the default suite

See benchmarks/README.md for what every number means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.console import Console
from rich.table import Table

# TensorFlow's C++ logging writes to fd 2 directly, past any Python redirection; keep warnings
# and errors, drop its info lines (here and in every process a benchmark starts).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from benchmarks import (
    RESULTS_DIR,
    compile_bench,
    footprint_bench,
    ingest_bench,
    mlflow_load_bench,
    pipelines_bench,
    scale_bench,
    serving_bench,
    tfx_ingest_bench,
    torch_bench,
)


@dataclass(frozen=True)
class Benchmark:
    run: Callable[..., dict]
    render: Callable[[dict, Console], None]


BENCHMARKS: dict[str, Benchmark] = {
    module.NAME: Benchmark(run=module.run, render=module.render)
    for module in (
        ingest_bench,
        tfx_ingest_bench,
        pipelines_bench,
        compile_bench,
        footprint_bench,
        torch_bench,
        mlflow_load_bench,
        serving_bench,
        scale_bench,
    )
}
# Too long for the default suite: run with --only, or added by --with-scale.
OPT_IN = (scale_bench.NAME,)
QUICK_REPEATS = 1


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
        **{
            name: _package_version(name)
            for name in ("pyarrow", "apache-beam", "tensorflow", "tfx", "torch", "lightning", "kfp")
        },
        "gpu": False,
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
        "--repeats", type=int, help="timed rounds after the warm-up (default 3; --quick: 1)"
    )
    parser.add_argument(
        "--with-scale",
        action="store_true",
        help=f"also run the {scale_bench.NAME} benchmark (both pipelines up to 10M rows)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny tables and one round: checks the suite runs, measures nothing worth quoting",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else 3
    if args.repeats < 3 and not args.quick:
        parser.error("--repeats must be at least 3 (a median and a range need them)")
    if args.rows and min(args.rows) < 100:
        parser.error("--rows must be at least 100 (every split needs rows)")
    return args


def selected(with_scale: bool) -> list[str]:
    """The benchmarks a run without --only runs, in order."""
    return [name for name in BENCHMARKS if with_scale or name not in OPT_IN]


def _targets(results: dict[str, dict]) -> list[dict]:
    found = []
    for result in results.values():
        found += result.get("targets", [])
        if "target" in result:
            found.append(result["target"])
    return found


def _targets_table(targets: list[dict]) -> Table:
    table = Table(title="Targets")
    for column in ("target", "goal", "measured", "met"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for target in targets:
        met = {None: "[yellow]not measured[/yellow]", True: "[green]yes[/green]"}.get(
            target["met"], "[red]no[/red]"
        )
        measured = "-" if target["measured"] is None else f"{target['measured']:,.3g}"
        table.add_row(target["description"], f"{target['goal']:g}", measured, met)
    return table


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # Not a terminal (make bench | tee, CI): wide enough that the tables do not wrap.
    console = Console(width=None if sys.stdout.isatty() else 160)
    names = [args.only] if args.only else selected(args.with_scale)
    started_suite = time.perf_counter()
    results: dict[str, dict] = {}
    failed: list[str] = []
    for name in names:
        benchmark = BENCHMARKS[name]
        started = datetime.now(UTC)
        began = time.perf_counter()
        console.rule(f"benchmark: {name}")
        try:
            result = benchmark.run(
                rows=args.rows, repeats=args.repeats, console=console, quick=args.quick
            )
        except Exception as exc:  # one failing benchmark must not cost the others' numbers
            console.print(f"[red]benchmark {name} failed[/red]: {type(exc).__name__}: {exc}")
            failed.append(name)
            continue
        document = {
            "benchmark": name,
            "machine": machine_facts(started),
            "arguments": {"rows": args.rows, "repeats": args.repeats, "quick": args.quick},
            "wall_s": time.perf_counter() - began,
            "result": result,
        }
        benchmark.render(result, console)
        path = write_result(name, document, started, RESULTS_DIR)
        console.print(f"Results: {path} ({document['wall_s']:.0f} s)")
        results[name] = result
    targets = _targets(results)
    if targets:
        console.print(_targets_table(targets))
    console.print(f"Total wall: {time.perf_counter() - started_suite:.0f} s")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
