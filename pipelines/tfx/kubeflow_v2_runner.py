"""Compile the TFX pipeline to Kubeflow Pipelines v2 IR with KubeflowV2DagRunner: the same
`create_pipeline` the local runner runs, with every location on the cluster."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.common.frameworks import TENSORFLOW
from components.spec import LoadedSpec
from pipelines.tfx.pipeline import create_pipeline


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

    spec = loaded.spec
    root = pipeline_root.rstrip("/")
    runs_dir = (runs_dir or f"{root}/runs").rstrip("/")
    pipeline = create_pipeline(
        loaded,
        snapshot_dir=snapshot_dir
        or f"{runs_dir}/{SNAPSHOTS_DIR}/{current_snapshot_name(spec.name)}",
        pipeline_name=TENSORFLOW.pipeline_name(spec.name),
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
