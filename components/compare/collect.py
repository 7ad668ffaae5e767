"""Read the pipeline runs of one experiment back from MLflow: the report never reads local files.

A pipeline run is a parent run tagged `tandem.framework` (with `pipeline_wall_s`) and nested step
runs (`tandem.step` ingest / train / evaluate / register, each with its `step_s`). `tandem run`
tags every parent run of one invocation with the same `tandem.run_group`; the comparison takes a
named group, or by default each framework's newest group (every finished run of a framework when
none of its runs is grouped).
"""

from __future__ import annotations

from collections import defaultdict

from components.common.errors import TandemError
from components.common.frameworks import NAMES
from components.common.tracking import (
    PIPELINE_SECONDS,
    STEP_SECONDS,
    TAG_FRAMEWORK,
    TAG_RUN_GROUP,
    TAG_SEED,
    TAG_STEP,
)
from components.compare.catalogue import CURVES
from components.compare.model import PipelineRun, StepRun

PARENT_RUN_TAG = "mlflow.parentRunId"
PAGE_SIZE = 1000


def _all_runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=PAGE_SIZE, page_token=token, order_by=["start_time DESC"]
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _step_run(client, run, with_history: bool) -> StepRun:
    history = {}
    if with_history:
        for key in CURVES:
            points = client.get_metric_history(run.info.run_id, key)
            if points:
                history[key] = sorted((point.step, point.value) for point in points)
    return StepRun(
        run_id=run.info.run_id,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        history=history,
    )


def pipeline_cost(parent, children: dict) -> StepRun | None:
    """What one pipeline run cost: its wall seconds, the sum of its steps' own `step_s`, and the
    rest (orchestration: process start-ups, hand-offs, and for TFX its built-in components,
    which log no step_s). None when the parent run logged no wall time."""
    wall = parent.data.metrics.get(PIPELINE_SECONDS)
    if wall is None:
        return None
    stages = sum(run.data.metrics.get(STEP_SECONDS, 0.0) for run in children.values())
    return StepRun(
        run_id=parent.info.run_id,
        params={},
        metrics={"wall_s": wall, "stages_s": stages, "overhead_s": wall - stages},
        tags={},
    )


def _seed(parent, train) -> int:
    return int(parent.data.tags.get(TAG_SEED) or train.data.params["seed"])


def _newest_group(parents: list) -> tuple[list, str | None]:
    """The runs of the newest run group among `parents`, else all of them (none grouped)."""
    grouped = [p for p in parents if TAG_RUN_GROUP in p.data.tags]
    if not grouped:
        return parents, None
    newest = max(grouped, key=lambda p: p.info.start_time).data.tags[TAG_RUN_GROUP]
    return [p for p in grouped if p.data.tags[TAG_RUN_GROUP] == newest], newest


def _choose(parents: list, run_group: str | None) -> tuple[list, str | None]:
    """The named group's runs; by default each framework's newest group (frameworks run by
    separate `tandem run --framework` calls end up in different groups)."""
    if run_group is not None:
        chosen = [p for p in parents if p.data.tags.get(TAG_RUN_GROUP) == run_group]
        if not chosen:
            groups = sorted(
                {p.data.tags[TAG_RUN_GROUP] for p in parents if TAG_RUN_GROUP in p.data.tags}
            )
            raise TandemError(
                f"no finished pipeline runs in run group {run_group!r}; "
                f"groups in this experiment: {', '.join(groups) or 'none'}"
            )
        return chosen, run_group
    chosen, groups = [], []
    for framework in NAMES:
        runs, group = _newest_group([p for p in parents if p.data.tags[TAG_FRAMEWORK] == framework])
        chosen += runs
        groups += [group] if group and group not in groups else []
    return chosen, " + ".join(groups) or None


def collect_runs(
    client, experiment: str, run_group: str | None = None
) -> tuple[list[PipelineRun], str | None]:
    """The finished pipeline runs (with train and evaluate steps) of a run group, and the group."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise TandemError(
            f"the MLflow store has no experiment {experiment!r}: run `tandem run` first, or "
            "pass --experiment with one of its experiments"
        )
    runs = _all_runs(client, found.experiment_id)
    steps: dict[str, dict[str, object]] = defaultdict(dict)
    for run in runs:
        parent_id = run.data.tags.get(PARENT_RUN_TAG)
        step = run.data.tags.get(TAG_STEP)
        if parent_id and step and run.info.status == "FINISHED":
            steps[parent_id].setdefault(step, run)  # newest first: a rerun step wins
    parents = [
        run
        for run in runs
        if PARENT_RUN_TAG not in run.data.tags
        and run.data.tags.get(TAG_FRAMEWORK) in NAMES
        and run.info.status == "FINISHED"
        and {"train", "evaluate"} <= steps[run.info.run_id].keys()
    ]
    chosen, group = _choose(parents, run_group)
    pipeline_runs = []
    for parent in chosen:
        children = steps[parent.info.run_id]
        ingest = children.get("ingest")
        pipeline_runs.append(
            PipelineRun(
                framework=parent.data.tags[TAG_FRAMEWORK],
                seed=_seed(parent, children["train"]),
                run_id=parent.info.run_id,
                run_name=parent.info.run_name,
                tags=dict(parent.data.tags),
                train=_step_run(client, children["train"], with_history=True),
                evaluate=_step_run(client, children["evaluate"], with_history=False),
                ingest=_step_run(client, ingest, with_history=False) if ingest else None,
                pipeline=pipeline_cost(parent, children),
            )
        )
    return sorted(pipeline_runs, key=lambda r: (r.framework, r.seed)), group


def require_both_frameworks(runs: list[PipelineRun], experiment: str) -> None:
    """A comparison needs finished runs of both frameworks: name the missing one and the fix."""
    present = {run.framework for run in runs}
    missing = [framework for framework in NAMES if framework not in present]
    if not missing:
        return
    have = ", ".join(
        f"{framework} ({sum(r.framework == framework for r in runs)} runs)"
        for framework in sorted(present)
    )
    raise TandemError(
        f"experiment {experiment!r} has no finished {' or '.join(missing)} pipeline runs "
        f"to compare (found: {have or 'none'}); run `tandem run "
        + " ".join(f"--framework {framework}" for framework in missing)
        + "` first"
    )
