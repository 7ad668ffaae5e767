"""Shared ingest vs TFX's own data stages on the same synthetic CSV.

tandem: `run_ingest` (validate, quarantine, hash split train/eval/test, Parquet snapshot,
train-split statistics), fresh output directory, no MLflow. TFX: a two-node pipeline,
CsvExampleGen (hash split 70/15/15 into tf.Examples) + StatisticsGen (statistics of every
split), LocalDagRunner, cache off, with the Beam flags tandem's own TFX pipeline passes (the
local FnApiRunner, in_memory, 1 worker — tandem's ingest runs on the same). Both are timed
around the call, in this process; for TFX each node's executor seconds come along. (Beam's
multi_processing mode would spread TFX's per-row work over both vCPUs at 1M rows, at a start-up
cost that made it 2x slower at 5k rows; not measured at 1M.)

Up to SINGLE_ROUND_ROWS rows the two alternate (TFX, tandem, ...) after a warm-up round; above
it one timed round each (the TFX pair took ~9 min at 1M rows here), which the JSON says.
speedup = TFX seconds / tandem seconds of the same round.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR
from benchmarks.display import median_range, progress, target, verdict
from benchmarks.quiet import quiet
from benchmarks.stages import tfx_node_times
from benchmarks.stats import interleave, ratios, summary
from benchmarks.synthetic import make_dataset
from components.ingest.run import DEFAULT_BEAM_ARGS
from components.spec import LoadedSpec, load_spec

NAME = "tfx-ingest"
DEFAULT_ROWS = (100_000, 1_000_000)
QUICK_ROWS = (5_000,)
SINGLE_ROUND_ROWS = 200_000
TARGET_ROWS = 1_000_000
TARGET_SPEEDUP = 10.0
SPLIT_BUCKETS = {"train": 14, "eval": 3, "test": 3}  # 70/15/15 as the spec's split


def _tfx_pair(loaded: LoadedSpec, work: Path) -> dict:
    from tfx import v1 as tfx

    csv_path = loaded.source_files()[0].path
    with tempfile.TemporaryDirectory(dir=work) as root, quiet(), tfx_node_times() as nodes:
        example_gen = tfx.components.CsvExampleGen(
            input_base=str(csv_path.parent),
            input_config=tfx.proto.Input(
                splits=[tfx.proto.Input.Split(name="single_split", pattern=csv_path.name)]
            ),
            output_config=tfx.proto.Output(
                split_config=tfx.proto.SplitConfig(
                    splits=[
                        tfx.proto.SplitConfig.Split(name=name, hash_buckets=buckets)
                        for name, buckets in SPLIT_BUCKETS.items()
                    ]
                )
            ),
        )
        statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
        pipeline = tfx.dsl.Pipeline(
            pipeline_name="bench-tfx-ingest",
            pipeline_root=str(Path(root) / "pipeline_root"),
            components=[example_gen, statistics_gen],
            enable_cache=False,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(Path(root) / "metadata.db")
            ),
            beam_pipeline_args=list(DEFAULT_BEAM_ARGS),
        )
        started = time.perf_counter()
        tfx.orchestration.LocalDagRunner().run(pipeline)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "executor_s": {k: v["executor_s"] for k, v in nodes.items()}}


def _tandem(loaded: LoadedSpec, work: Path) -> dict:
    from components.ingest.run import run_ingest

    with tempfile.TemporaryDirectory(dir=work) as out, quiet():
        started = time.perf_counter()
        result = run_ingest(loaded, Path(out), track=False)
        seconds = time.perf_counter() - started
    assert not result.cache_hit, "ingest hit the snapshot cache: nothing was measured"
    return {"seconds": seconds, "timings": dict(result.timings)}


def _case(rows: int, repeats: int, work: Path, bar) -> dict:
    loaded = load_spec(make_dataset(rows, DATA_DIR))
    single = rows > SINGLE_ROUND_ROWS
    rounds = 1 if single else repeats
    task = bar.add_task(f"{rows:,} rows", total=2 * (rounds + (0 if single else 1)))

    def step(run):
        def wrapped():
            result = run()
            bar.advance(task)
            return result

        return wrapped

    results = interleave(
        {
            "tfx": step(lambda: _tfx_pair(loaded, work)),
            "tandem": step(lambda: _tandem(loaded, work)),
        },
        repeats=rounds,
        warmup=not single,
        on_start=lambda label, variant: bar.update(
            task, description=f"{rows:,} rows, {label}: {variant}"
        ),
    )
    tfx_s = [r["seconds"] for r in results["tfx"]]
    tandem_s = [r["seconds"] for r in results["tandem"]]
    nodes = results["tfx"][0]["executor_s"]
    return {
        "rows": rows,
        "rounds": rounds,
        "interleaved": not single,
        "note": "one timed round each, no warm-up round at this size (too slow to repeat)"
        if single
        else "TFX and tandem alternated after an untimed warm-up round",
        "tfx_s": summary(tfx_s),
        "tfx_executor_s": {
            node: summary([r["executor_s"][node] for r in results["tfx"]]) for node in nodes
        },
        "tandem_s": summary(tandem_s),
        "tandem_rows_per_s": summary([rows / s for s in tandem_s]),
        "tfx_rows_per_s": summary([rows / s for s in tfx_s]),
        "speedup": ratios(tfx_s, tandem_s),
    }


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    work = DATA_DIR / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    with progress(console) as bar:
        cases = [
            _case(count, repeats, work, bar)
            for count in (rows or (QUICK_ROWS if quick else DEFAULT_ROWS))
        ]
    at_target = next((c for c in cases if c["rows"] == TARGET_ROWS), None)
    return {
        "tfx": "CsvExampleGen (hash split 70/15/15) + StatisticsGen (all splits), LocalDagRunner, "
        "cache off",
        "beam_args": list(DEFAULT_BEAM_ARGS),
        "tandem": "components.ingest.run.run_ingest (validation, quarantine, split, Parquet, "
        "train-split statistics), track=False",
        "cases": cases,
        "target": target(
            f"tandem ingest >= {TARGET_SPEEDUP:g}x faster than CsvExampleGen + StatisticsGen at "
            f"{TARGET_ROWS:,} rows",
            at_target["speedup"]["median"] if at_target else None,
            TARGET_SPEEDUP,
            higher_is_better=True,
        ),
    }


def render(result: dict, console: Console) -> None:
    table = Table(title="Shared ingest vs TFX CsvExampleGen + StatisticsGen")
    for column in ("rows", "rounds", "TFX s", "tandem s", "speedup (TFX s / tandem s)"):
        table.add_column(column, justify="right")
    for case in result["cases"]:
        table.add_row(
            f"{case['rows']:,}",
            str(case["rounds"]),
            median_range(case["tfx_s"], 1),
            median_range(case["tandem_s"], 2),
            median_range(case["speedup"], 1, "x"),
        )
    console.print(table)
    for case in result["cases"]:
        parts = ", ".join(f"{k} {v['median']:.1f} s" for k, v in case["tfx_executor_s"].items())
        console.print(f"{case['rows']:,} rows, TFX executors (median): {parts}")
    console.print(verdict(result["target"]))
