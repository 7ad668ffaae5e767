"""What the two local runners do alike: the MLflow parent run a pipeline runs under, the clock on
its wall time, and the one result type both return."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from components.common.frameworks import Framework
from components.spec import LoadedSpec


@dataclass(frozen=True)
class LocalRunResult:
    """What the CLI prints and the benchmarks read after a local pipeline run."""

    framework: str
    fingerprint: str
    snapshot_dir: Path
    blessed: bool
    blessing: dict
    evaluation_dir: Path
    model_version: str | None
    pushed_model_dir: Path | None
    mlflow_run_id: str
    pipeline_wall_s: float
    # TFX only: each node's ML Metadata state (COMPLETE, CACHED, ...).
    node_states: dict[str, str] = field(default_factory=dict)

    @property
    def cached_nodes(self) -> list[str]:
        return [node for node, state in self.node_states.items() if state == "CACHED"]


@dataclass
class ParentRun:
    """The open parent run; the runner times the pipeline in it (ingest to push)."""

    run_id: str
    pipeline_wall_s: float = 0.0

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Time the block; a block that completes logs its wall seconds to the parent run
        (the report's pipeline cost: wall, the steps' own step_s, and what is left)."""
        from components.common.tracking import PIPELINE_SECONDS, log_pipeline_metrics

        started = time.perf_counter()
        yield
        self.pipeline_wall_s = time.perf_counter() - started
        log_pipeline_metrics({PIPELINE_SECONDS: self.pipeline_wall_s})


@contextmanager
def parent_run(
    loaded: LoadedSpec,
    framework: Framework,
    output_dir: Path,
    seed: int | None,
    tags: dict[str, str] | None,
) -> Iterator[ParentRun]:
    """The MLflow parent run every step nests under, tagged with the framework and the training
    seed (default: the spec's first) and `tags`."""
    from components.common.tracking import TAG_SEED, pipeline_run

    seed = loaded.spec.training.seed_or_default(seed)
    run_tags = {TAG_SEED: str(seed), **(tags or {})}
    with pipeline_run(loaded.spec.name, framework.name, output_dir, tags=run_tags) as parent:
        yield ParentRun(parent.info.run_id)


def tag_fingerprint(fingerprint: str) -> None:
    """Tag the open parent run with the snapshot it ran on."""
    from components.common.tracking import TAG_FINGERPRINT, tag_pipeline_run

    tag_pipeline_run({TAG_FINGERPRINT: fingerprint})
