"""Both pipelines end to end: where the time goes, what orchestration adds, trainer efficiency.

Per case (penguins, then the synthetic table at each --rows size) four variants run in this
process: the bare TensorFlow fit (`train_bare`), the TFX pipeline (`pipelines.tfx.local_runner`,
cache off, fresh output directory), the bare PyTorch loop (`benchmarks.bare_torch`, the spec's
process count) and the KFP pipeline (`pipelines.torch.local_runner`). Every pipeline run ingests
from scratch.

- stages: each stage's own seconds as it measures them (`stages`): tandem's steps' `step_s`
  from MLflow; TFX's nodes' executor time (for tandem's Trainer / SharedEvaluator, their
  `step_s` when logged). Until a step logs `step_s` it shows as not measured.
  Each stage record also carries the stage's peak RSS and its RSS when that peak's window
  started (same source: the step run's metrics, else the node's executor), which the scale
  round reads.
- overhead: pipeline wall (run_local, imports excluded) / the sum of the stages' own seconds;
  wall - sum is the fixed cost in seconds. It holds the orchestrator (LocalDagRunner / kfp.local
  + TorchX), the MLflow parent run, step process start-up (PyTorch side) and, on the TFX side,
  each node's driver and publisher.
- trainer efficiency: samples/s the pipeline's train step logged / samples/s of the bare loop.
- PyTorch breakdown: the KFP run's wall split into consecutive phases (`stages.torch_phases`):
  each step's step_s, and the fixed cost line by line: each step process's start-up before its
  MLflow run, the part of a run outside step_s, its exit, kfp.local's gaps, the parent run.

Penguins rounds are interleaved (TF bare, TF pipeline, torch bare, torch pipeline) after a
warm-up round. A big table gets one pipeline round (a TFX run at 1M rows takes minutes); its
bare loops run before and after it, so each efficiency ratio has two pairs.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR, specs
from benchmarks.display import median_range, progress, target, verdict
from benchmarks.launch import run_module
from benchmarks.quiet import quiet
from benchmarks.stages import (
    kfp_task_times,
    mlflow_step_spans,
    mlflow_steps,
    step_seconds,
    tfx_node_times,
    torch_phases,
    torchx_launches,
)
from benchmarks.stats import interleave, maybe_ratios, ratios, summary
from components.common.tracking import PEAK_RSS, START_RSS
from components.spec import LoadedSpec

NAME = "pipelines"
DEFAULT_ROWS = (1_000_000,)
QUICK_ROWS = (20_000,)
TARGET_ROWS = 1_000_000
OVERHEAD_TARGET = 1.15
EFFICIENCY_TARGET = 0.9
BIG_EPOCHS = 2
FRAMEWORKS = ("tensorflow", "pytorch")
# tandem's own TFX nodes and the MLflow step each one logs.
TFX_NODE_STEPS = {"Trainer": "train", "SharedEvaluator": "evaluate", "ModelRegistrar": "register"}
TORCH_STEPS = ("ingest", "train", "evaluate", "register", "push")


def _tf_bare(loaded: LoadedSpec, snapshot: Path, work: Path) -> float:
    from benchmarks.bare_keras import train_bare

    with tempfile.TemporaryDirectory(dir=work) as out, quiet():
        return train_bare(snapshot, loaded.spec, out)["samples_per_s"]


def _torch_bare(loaded: LoadedSpec, snapshot: Path, work: Path) -> float:
    workers = loaded.spec.training.workers
    with tempfile.TemporaryDirectory(dir=work) as out:
        result = Path(out) / "bare.json"
        args = ["--spec", loaded.path, "--snapshot", snapshot, "--out", result]
        run_module("benchmarks.bare_torch", args, workers.nnodes * workers.nproc_per_node)
        return json.loads(result.read_text())["samples_per_s"]


def _tf_pipeline(loaded: LoadedSpec, work: Path) -> dict:
    from pipelines.tfx.local_runner import run_local

    with tempfile.TemporaryDirectory(dir=work) as out, quiet(), tfx_node_times() as nodes:
        started = time.perf_counter()
        result = run_local(loaded, Path(out), enable_cache=False)
        wall = time.perf_counter() - started
        steps = mlflow_steps(Path(out), result.mlflow_run_id)
    stages = [_step_stage(steps, "ingest")]
    stages += [_node_stage(steps, node, times) for node, times in nodes.items()]
    return _run_record(wall, stages, steps, result)


def _torch_pipeline(loaded: LoadedSpec, work: Path) -> dict:
    from components.common.frameworks import PYTORCH
    from pipelines.torch.local_runner import PIPELINE_ROOT_DIR, run_local

    with tempfile.TemporaryDirectory(dir=work) as out, quiet(), kfp_task_times() as tasks:
        started, started_at = time.perf_counter(), time.time()
        result = run_local(loaded, Path(out))
        wall, ended_at = time.perf_counter() - started, time.time()
        steps = mlflow_steps(Path(out), result.mlflow_run_id)
        spans = mlflow_step_spans(Path(out), result.mlflow_run_id)
        launches = torchx_launches(
            PYTORCH.local_root(Path(out), loaded.spec.name) / PIPELINE_ROOT_DIR
        )
    known = [step for step in TORCH_STEPS if step in steps]
    stages = [_step_stage(steps, step) for step in [*known, *sorted(set(steps) - set(known))]]
    record = _run_record(wall, stages, steps, result)
    record["phases"] = torch_phases(started_at, ended_at, tasks, spans, launches)
    return record


def _node_stage(steps: dict[str, dict[str, float]], node: str, times: dict[str, float]) -> dict:
    """A TFX node: the seconds and memory its tandem step logged (Trainer, SharedEvaluator,
    ModelRegistrar) when it did, else what `tfx_node_times` measured around its executor."""
    step = TFX_NODE_STEPS.get(node)
    logged = step_seconds(steps, step) if step else None
    figures = steps.get(step, {})
    return {
        "stage": node,
        "own_s": logged if logged is not None else times["executor_s"],
        "source": "step_s" if logged is not None else "executor_s",
        "executor_s": times["executor_s"],
        "node_s": times["node_s"],
        **_memory(figures if PEAK_RSS in figures else times),
    }


def _step_stage(steps: dict[str, dict[str, float]], step: str) -> dict:
    """A stage of tandem's own: the seconds and memory its MLflow step run logged."""
    return {
        "stage": step,
        "own_s": step_seconds(steps, step),
        "source": "step_s",
        **_memory(steps.get(step, {})),
    }


def _memory(figures: dict[str, float]) -> dict[str, float | None]:
    """A stage's peak RSS and its RSS when the peak's window started, both from one source (a
    step run's metrics or a node's times); None where not recorded."""
    return {PEAK_RSS: figures.get(PEAK_RSS), START_RSS: figures.get(START_RSS)}


def pipeline_round(framework: str, loaded: LoadedSpec, work: Path) -> dict:
    """One run of the framework's pipeline from ingest on, cache off: wall and stage records."""
    rounds = {"tensorflow": _tf_pipeline, "pytorch": _torch_pipeline}
    return rounds[framework](loaded, work)


def _run_record(wall: float, stages: list[dict], steps: dict, result) -> dict:
    own = [stage["own_s"] for stage in stages]
    return {
        "wall_s": wall,
        "blessed": result.blessed,
        "pushed": result.pushed_model_dir is not None,
        "stages": stages,
        "stage_sum_s": None if None in own else sum(own),
        "trainer_samples_per_s": steps.get("train", {}).get("samples_per_s"),
    }


def _framework_result(runs: list[dict], bare: list[float], pairs: list[tuple[int, int]]) -> dict:
    """Summaries over rounds; pairs = (pipeline round, bare round) of each efficiency ratio."""
    walls = [run["wall_s"] for run in runs]
    sums = [run["stage_sum_s"] for run in runs]
    stage_names = list(dict.fromkeys(stage["stage"] for run in runs for stage in run["stages"]))
    stages = {}
    for name in stage_names:
        found = [s for run in runs for s in run["stages"] if s["stage"] == name]
        own = [s["own_s"] for s in found]
        stages[name] = {
            "own_s": None if None in own else summary(own),
            "source": found[0]["source"],
            **{
                key: summary([s[key] for s in found])
                for key in ("executor_s", "node_s")
                if key in found[0]
            },
        }
    measured = None not in sums
    phases = _phases_summary(runs)
    rates = [runs[p]["trainer_samples_per_s"] for p, _ in pairs]
    return {
        "wall_s": summary(walls),
        "blessed_and_pushed": [(run["blessed"], run["pushed"]) for run in runs],
        "stages": stages,
        "stage_sum_s": summary(sums) if measured else None,
        "overhead_ratio": ratios(walls, sums) if measured else None,
        "overhead_s": summary([w - s for w, s in zip(walls, sums, strict=True)])
        if measured
        else None,
        "trainer": {
            "pipeline_samples_per_s": _maybe_summary([r["trainer_samples_per_s"] for r in runs]),
            "bare_samples_per_s": summary(bare),
            "efficiency": maybe_ratios(rates, [bare[b] for _, b in pairs]),
        },
        **({"phases": phases} if phases else {}),
    }


def _phases_summary(runs: list[dict]) -> list[dict]:
    """Each phase over the rounds (median, min, max); a phase a round lacks counts as 0 s
    there (a round whose model was not blessed has no push)."""
    if not all("phases" in run for run in runs):
        return []
    names = list(dict.fromkeys(phase["phase"] for run in runs for phase in run["phases"]))
    summarised = []
    for name in names:
        found = [[p for p in run["phases"] if p["phase"] == name] for run in runs]
        seconds = [matches[0]["s"] if matches else 0.0 for matches in found]
        own = next(matches[0]["own"] for matches in found if matches)
        summarised.append({"phase": name, "own": own, "s": summary(seconds)})
    return summarised


def _maybe_summary(values: list[float | None]) -> dict | None:
    return None if not values or None in values else summary(values)


def _case(
    loaded: LoadedSpec, rows: int | None, repeats: int, big: bool, work: Path, bar, task
) -> dict:
    from components.ingest.run import run_ingest

    with quiet():
        snapshot = run_ingest(loaded, work / "ingest", track=False).snapshot_dir
    variants: dict[str, Callable[[], object]] = {
        "tensorflow bare": lambda: _tf_bare(loaded, snapshot, work),
        "tensorflow pipeline": lambda: pipeline_round("tensorflow", loaded, work),
        "pytorch bare": lambda: _torch_bare(loaded, snapshot, work),
        "pytorch pipeline": lambda: pipeline_round("pytorch", loaded, work),
    }
    title = loaded.spec.name

    def started(round_label: str, variant: str) -> None:
        bar.update(task, description=f"{title}, {round_label}: {variant}")

    def advance(run: Callable[[], object]) -> Callable[[], object]:
        def wrapped():
            result = run()
            bar.advance(task)
            return result

        return wrapped

    timed = {name: advance(run) for name, run in variants.items()}
    if big:
        results = interleave(timed, repeats=1, warmup=False, on_start=started)
        after = interleave(
            {name: timed[name] for name in ("tensorflow bare", "pytorch bare")},
            repeats=1,
            warmup=False,
            on_start=lambda _, variant: started("after", variant),
        )
        for name, values in after.items():
            results[name] += values
        pairs = [(0, 0), (0, 1)]
    else:
        results = interleave(timed, repeats=repeats, on_start=started)
        pairs = [(i, i) for i in range(repeats)]
    bar.update(task, description=f"{title}: done")
    return {
        "spec": loaded.spec.name,
        "rows": rows,
        "epochs": loaded.spec.training.epochs,
        "batch_size": loaded.spec.training.batch_size,
        "hidden_sizes": list(loaded.spec.training.hidden_sizes),
        "pipeline_rounds": 1 if big else repeats,
        "interleaved": not big,
        "note": (
            "one pipeline round per framework (too slow to repeat); bare loops ran before and "
            "after it, each efficiency ratio pairs the pipeline with both"
            if big
            else "rounds interleaved TF bare, TF pipeline, torch bare, torch pipeline after a "
            "warm-up round"
        ),
        **{
            framework: _framework_result(
                results[f"{framework} pipeline"], results[f"{framework} bare"], pairs
            )
            for framework in FRAMEWORKS
        },
    }


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    sizes = list(rows or (QUICK_ROWS if quick else DEFAULT_ROWS))
    work_root = DATA_DIR / "tmp"
    work_root.mkdir(parents=True, exist_ok=True)
    cases = []
    with progress(console) as bar, tempfile.TemporaryDirectory(dir=work_root) as root:
        plan = [(specs.penguins(), None, False)] + [
            (specs.synthetic(size, epochs=BIG_EPOCHS), size, True) for size in sizes
        ]
        for index, (loaded, size, big) in enumerate(plan):
            steps = 6 if big else 4 * (repeats + 1)
            task = bar.add_task(loaded.spec.name, total=steps)
            work = Path(root) / f"case-{index}"
            work.mkdir()
            cases.append(_case(loaded, size, repeats, big, work, bar, task))
    at_target = next((c for c in cases if c["rows"] == TARGET_ROWS), None)
    targets = []
    for framework in FRAMEWORKS:
        found = at_target[framework] if at_target else None
        overhead = found["overhead_ratio"] if found else None
        efficiency = found["trainer"]["efficiency"] if found else None
        targets.append(
            target(
                f"{framework} pipeline wall / sum of stages <= {OVERHEAD_TARGET} at "
                f"{TARGET_ROWS:,} rows",
                overhead["median"] if overhead else None,
                OVERHEAD_TARGET,
                higher_is_better=False,
            )
        )
        targets.append(
            target(
                f"{framework} trainer samples/s in the pipeline / bare loop >= {EFFICIENCY_TARGET}",
                efficiency["median"] if efficiency else None,
                EFFICIENCY_TARGET,
                higher_is_better=True,
            )
        )
    return {
        "bare_references": {
            "tensorflow": "benchmarks.bare_keras.train_bare: a plain Keras model.fit on the "
            "snapshot encoded into in-memory numpy arrays, no TFX",
            "pytorch": "benchmarks.bare_torch: a plain torch loop (no Lightning/TorchX/KFP), "
            "same network, data, sampler, global batch, optimizer and process count",
        },
        "stage_sources": {
            "step_s": "the step's own wall seconds, logged by the step to MLflow",
            "executor_s": "TFX node's executor call, timed in this process (no driver, no "
            "publisher)",
            "ingest timings total_s": "run_ingest's own timing (ingest logged no step_s)",
        },
        "overhead_includes": "orchestrator, MLflow parent run, step process start-up, TFX "
        "drivers/publishers, kfp.local compilation; not Python imports of this process",
        "cases": cases,
        "targets": targets,
    }


def render(result: dict, console: Console) -> None:
    stages = Table(title="Pipeline stages (own seconds, median (min-max))")
    for column in ("case", "framework", "stage", "own s", "source", "share of wall"):
        stages.add_column(
            column, justify="right" if column in ("own s", "share of wall") else "left"
        )
    overhead = Table(title="Orchestration overhead and trainer efficiency")
    for column in (
        "case",
        "framework",
        "wall s",
        "sum of stages s",
        "wall / sum",
        "fixed overhead s",
        "trainer samples/s",
        "bare samples/s",
        "pipeline / bare",
    ):
        overhead.add_column(column, justify="left" if column in ("case", "framework") else "right")
    for case in result["cases"]:
        size = case["spec"] if case["rows"] is None else f"synthetic {case['rows']:,}"
        label = size + ("" if case["interleaved"] else " (1 round)")
        for framework in FRAMEWORKS:
            found = case[framework]
            wall = found["wall_s"]["median"]
            for name, stage in found["stages"].items():
                own = stage["own_s"]
                share = f"{own['median'] / wall:.0%}" if own else "-"
                stages.add_row(label, framework, name, median_range(own), stage["source"], share)
            stages.add_section()
            trainer = found["trainer"]
            overhead.add_row(
                label,
                framework,
                median_range(found["wall_s"], 1),
                median_range(found["stage_sum_s"], 1),
                median_range(found["overhead_ratio"], 3),
                median_range(found["overhead_s"], 1),
                median_range(trainer["pipeline_samples_per_s"], 0),
                median_range(trainer["bare_samples_per_s"], 0),
                median_range(trainer["efficiency"], 3),
            )
    console.print(stages)
    console.print(overhead)
    for case in result["cases"]:
        phases = case["pytorch"].get("phases")
        if phases:
            console.print(_phases_table(case, phases))
    for case in result["cases"]:
        for framework in FRAMEWORKS:
            outcomes = case[framework]["blessed_and_pushed"]
            if not all(blessed and pushed for blessed, pushed in outcomes):
                console.print(
                    f"{case['spec']} {framework}: (blessed, pushed) per round {outcomes}: "
                    "a round without a push has no push stage"
                )
    for found in result["targets"]:
        console.print(verdict(found))


def _phases_table(case: dict, phases: list[dict]) -> Table:
    size = case["spec"] if case["rows"] is None else f"synthetic {case['rows']:,}"
    table = Table(
        title=f"PyTorch pipeline breakdown, {size}: where the wall goes (s, median (min-max))"
    )
    for column in ("phase", "kind", "s"):
        table.add_column(column, justify="right" if column == "s" else "left")
    for phase in phases:
        kind = "step_s" if phase["own"] else "fixed cost"
        table.add_row(phase["phase"], kind, median_range(phase["s"]))
    fixed = [p["s"]["values"] for p in phases if not p["own"]]
    totals = [sum(values) for values in zip(*fixed, strict=True)]
    table.add_section()
    table.add_row("fixed cost, total", "fixed cost", median_range(summary(totals)))
    return table
