"""Thin runners for the TFX pipeline: run it here with LocalDagRunner, or compile it to Kubeflow
Pipelines v2 IR with KubeflowV2DagRunner. Both build the same `create_pipeline`.

Locally, the shared ingest runs first (outside the TFX DAG, inside the MLflow parent run so its
run nests); TFX then reads that snapshot. ML Metadata (sqlite) and the pipeline root live under
`<output_dir>/tfx/<spec>/`, so a rerun on the same snapshot reuses cached component outputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from components.common.errors import TandemError
from components.common.spec import LoadedSpec

if TYPE_CHECKING:
    from components.ingest.run import IngestResult

TFX_DIR = "tfx"
METADATA_FILE = "metadata.db"
PIPELINE_ROOT_DIR = "pipeline_root"
SERVING_DIR = "serving"
EVALUATOR_NODE = "SharedEvaluator"
PUSHER_NODE = "Pusher"


def pipeline_name(spec_name: str) -> str:
    return f"tandem-{spec_name}-tfx"


@dataclass
class LocalPaths:
    root: Path

    @property
    def metadata(self) -> Path:
        return self.root / METADATA_FILE

    @property
    def pipeline_root(self) -> Path:
        return self.root / PIPELINE_ROOT_DIR

    @property
    def serving(self) -> Path:
        return self.root / SERVING_DIR


def local_paths(output_dir: Path, spec_name: str) -> LocalPaths:
    return LocalPaths((Path(output_dir) / TFX_DIR / spec_name).resolve())


@dataclass
class TfxRunResult:
    """What the CLI prints after a local run."""

    ingest: IngestResult
    paths: LocalPaths
    mlflow_run_id: str
    blessed: bool
    blessing: dict
    evaluation_dir: Path
    model_version: str | None
    pushed_model_dir: Path | None
    node_states: dict[str, str] = field(default_factory=dict)
    pipeline_wall_s: float = 0.0

    @property
    def snapshot_dir(self) -> Path:
        return self.ingest.snapshot_dir

    @property
    def fingerprint(self) -> str:
        return self.ingest.manifest["fingerprint"]

    @property
    def cached_nodes(self) -> list[str]:
        return [node for node, state in self.node_states.items() if state == "CACHED"]


def _tandem_cause(exc: BaseException) -> TandemError | None:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, TandemError):
        cause = cause.__cause__ or cause.__context__
    return cause


def _run_dag(pipeline) -> None:
    from tfx import v1 as tfx

    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as exc:
        cause = _tandem_cause(exc)
        if cause is None:
            raise
        raise TandemError(f"the TFX pipeline stopped: {cause}") from None


def _existing_snapshot(snapshot_dir: Path) -> IngestResult:
    from components.ingest.run import IngestResult
    from components.ingest.snapshot import require_manifest

    return IngestResult(snapshot_dir.resolve(), require_manifest(snapshot_dir), cache_hit=True)


def _result(ingest, paths: LocalPaths, spec_name: str, run_id: str, wall: float) -> TfxRunResult:
    from components.evaluate.run import BLESSING_FILE
    from components.tfx_components.run_record import custom_property, latest_run

    records = latest_run(paths.metadata, pipeline_name(spec_name))
    blessing = records[EVALUATOR_NODE].output("blessing")
    pushed = records[PUSHER_NODE].output("pushed_model")
    evaluation_dir = Path(blessing.uri)
    return TfxRunResult(
        ingest=ingest,
        paths=paths,
        mlflow_run_id=run_id,
        blessed=custom_property(blessing, "blessed") == 1,
        blessing=json.loads((evaluation_dir / BLESSING_FILE).read_text()),
        evaluation_dir=evaluation_dir,
        model_version=custom_property(blessing, "model_version") or None,
        pushed_model_dir=(
            Path(custom_property(pushed, "pushed_destination"))
            if custom_property(pushed, "pushed") == 1
            else None
        ),
        node_states={node: record.state for node, record in records.items()},
        pipeline_wall_s=wall,
    )


def run_local(
    loaded: LoadedSpec,
    output_dir: Path,
    snapshot_dir: Path | None = None,
    beam_args: Sequence[str] = (),
    enable_cache: bool = True,
    report: Callable[[str], None] = lambda message: None,
    seed: int | None = None,
    tags: dict[str, str] | None = None,
) -> TfxRunResult:
    """Ingest (unless given an existing snapshot_dir), then run the TFX pipeline with
    LocalDagRunner, all under one MLflow parent run (tagged tandem.framework=tensorflow and the
    snapshot fingerprint). A failing step (e.g. data anomalies) raises TandemError with its
    message; a model that is not blessed is not pushed (`pushed_model_dir` is None). seed: the
    training seed (default: the spec's first), also tagged on the parent run, with `tags`."""
    from tfx import v1 as tfx

    from components.common.tracking import (
        TAG_FINGERPRINT,
        TAG_SEED,
        pipeline_run,
        tag_pipeline_run,
    )
    from components.ingest.run import beam_flags, run_ingest
    from pipelines.tfx_pipeline import create_pipeline

    spec = loaded.spec
    output_dir = Path(output_dir).resolve()
    paths = local_paths(output_dir, spec.name)
    paths.root.mkdir(parents=True, exist_ok=True)
    seed = spec.training.seed_or_default(seed)
    parent_tags = {TAG_SEED: str(seed), **(tags or {})}
    with pipeline_run(spec.name, "tensorflow", output_dir, tags=parent_tags) as parent:
        if snapshot_dir is None:
            ingest = run_ingest(loaded, output_dir, beam_args, report)
        else:
            ingest = _existing_snapshot(Path(snapshot_dir))
        tag_pipeline_run({TAG_FINGERPRINT: ingest.manifest["fingerprint"]})
        pipeline = create_pipeline(
            loaded,
            snapshot_dir=str(ingest.snapshot_dir),
            pipeline_name=pipeline_name(spec.name),
            pipeline_root=str(paths.pipeline_root),
            metadata_connection_config=(
                tfx.orchestration.metadata.sqlite_metadata_connection_config(str(paths.metadata))
            ),
            serving_dir=str(paths.serving),
            runs_dir=str(output_dir),
            beam_pipeline_args=beam_flags(spec.ingest.beam_args, beam_args),
            enable_cache=enable_cache,
            seed=seed,
        )
        report("running the TFX pipeline (LocalDagRunner)")
        started = time.perf_counter()
        _run_dag(pipeline)
        wall = time.perf_counter() - started
        return _result(ingest, paths, spec.name, parent.info.run_id, wall)


def compile_kubeflow_v2(
    loaded: LoadedSpec,
    output_file: Path,
    image: str,
    pipeline_root: str,
    snapshot_dir: str | None = None,
    serving_dir: str | None = None,
    runs_dir: str | None = None,
    beam_args: Sequence[str] = (),
) -> Path:
    """Write the pipeline as KFP v2 IR (PipelineJob JSON) for `image`, which carries tandem's
    code (user code is referenced by dotted path, so compiling needs no network). Locations on
    the cluster default to folders under pipeline_root; the snapshot to the latest one ingested
    into runs_dir (`<runs_dir>/snapshots/<spec>-current`: the PyTorch pipeline's ingest step or
    `tandem ingest` makes it)."""
    from tfx import v1 as tfx

    from components.ingest.run import beam_flags
    from components.ingest.snapshot import SNAPSHOTS_DIR, current_snapshot_name
    from pipelines.tfx_pipeline import create_pipeline

    spec = loaded.spec
    root = pipeline_root.rstrip("/")
    runs_dir = (runs_dir or f"{root}/runs").rstrip("/")
    pipeline = create_pipeline(
        loaded,
        snapshot_dir=snapshot_dir
        or f"{runs_dir}/{SNAPSHOTS_DIR}/{current_snapshot_name(spec.name)}",
        pipeline_name=pipeline_name(spec.name),
        pipeline_root=root,
        metadata_connection_config=None,
        serving_dir=serving_dir or f"{root}/serving",
        runs_dir=runs_dir,
        beam_pipeline_args=beam_flags(spec.ingest.beam_args, beam_args),
    )
    output_file = Path(output_file).resolve()
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output_file.parent),
        output_filename=output_file.name,
    )
    runner.run(pipeline, write_out=True)
    return output_file
