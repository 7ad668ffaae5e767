"""Run the TFX pipeline here with LocalDagRunner.

The shared ingest runs first (outside the TFX DAG, inside the MLflow parent run so its run nests);
TFX then reads that snapshot. ML Metadata (sqlite) and the pipeline root live under
`<output_dir>/tfx/<spec>/`, so a rerun on the same snapshot reuses cached component outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from components.common.errors import TandemError
from components.common.frameworks import TENSORFLOW
from components.evaluate.blessing import read_blessing
from components.spec import LoadedSpec
from pipelines.local_run import LocalRunResult, parent_run, tag_fingerprint

METADATA_FILE = "metadata.db"
PIPELINE_ROOT_DIR = "pipeline_root"
SERVING_DIR = "serving"


def _run_dag(pipeline) -> None:
    """LocalDagRunner wraps a step's error in its own; a TandemError in the chain (anomalies,
    bad input) is re-raised as the one line it is."""
    from tfx import v1 as tfx

    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, TandemError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise TandemError(f"the TFX pipeline stopped: {cause}") from None


def run_local(
    loaded: LoadedSpec,
    output_dir: Path,
    snapshot_dir: Path | None = None,
    beam_args: Sequence[str] = (),
    enable_cache: bool = True,
    report: Callable[[str], None] = lambda message: None,
    seed: int | None = None,
    tags: dict[str, str] | None = None,
) -> LocalRunResult:
    """Ingest (unless given an existing snapshot_dir), then the TFX pipeline, all under one MLflow
    parent run. A failing step (e.g. data anomalies) raises TandemError with its message; a model
    that is not blessed is not pushed (`pushed_model_dir` is None)."""
    from tfx import v1 as tfx

    from components.ingest.run import beam_flags, ingest_or_reuse
    from pipelines.tfx.pipeline import EVALUATOR_NODE, PUSHER_NODE, REGISTRAR_NODE, create_pipeline
    from pipelines.tfx.run_record import outcome

    spec, output_dir = loaded.spec, Path(output_dir).resolve()
    root = TENSORFLOW.local_root(output_dir, spec.name)
    root.mkdir(parents=True, exist_ok=True)
    with parent_run(loaded, TENSORFLOW, output_dir, seed, tags) as parent, parent.timed():
        ingest = ingest_or_reuse(loaded, output_dir, snapshot_dir, beam_args, report)
        tag_fingerprint(ingest.manifest["fingerprint"])
        pipeline = create_pipeline(
            loaded,
            snapshot_dir=str(ingest.snapshot_dir),
            pipeline_name=TENSORFLOW.pipeline_name(spec.name),
            pipeline_root=str(root / PIPELINE_ROOT_DIR),
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(root / METADATA_FILE)
            ),
            serving_dir=str(root / SERVING_DIR),
            runs_dir=str(output_dir),
            beam_pipeline_args=beam_flags(spec.ingest.beam_args, beam_args),
            enable_cache=enable_cache,
            seed=seed,
        )
        report("running the TFX pipeline (LocalDagRunner)")
        _run_dag(pipeline)
    done = outcome(
        root / METADATA_FILE,
        TENSORFLOW.pipeline_name(spec.name),
        EVALUATOR_NODE,
        REGISTRAR_NODE,
        PUSHER_NODE,
    )
    return LocalRunResult(
        framework=TENSORFLOW.name,
        fingerprint=ingest.manifest["fingerprint"],
        snapshot_dir=ingest.snapshot_dir,
        blessed=done.blessed,
        blessing=read_blessing(done.evaluation_dir),
        evaluation_dir=done.evaluation_dir,
        model_version=done.model_version,
        pushed_model_dir=done.pushed_model_dir,
        mlflow_run_id=parent.run_id,
        pipeline_wall_s=parent.pipeline_wall_s,
        node_states=done.node_states,
    )
