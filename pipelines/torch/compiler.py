"""Compile the PyTorch pipeline to KFP v2 YAML: the same `create_pipeline` kfp.local runs."""

from __future__ import annotations

from pathlib import Path

from components.common.frameworks import PYTORCH
from components.common.tracking import LOG_ROOT_DIR
from components.spec import LoadedSpec
from pipelines.torch.pipeline import create_pipeline

SERVING_DIR = "serving"


def compile_pipeline(
    loaded: LoadedSpec,
    output_file: Path,
    image: str,
    output_dir: str,
    serving_root: str | None = None,
    log_root: str | None = None,
    spec_dir: str | None = None,
) -> Path:
    """Write the pipeline as KFP v2 YAML for `image` (which carries tandem's code). output_dir is
    tandem's output directory on the cluster (the shared volume); the other locations default to
    folders in it, laid out as a local run lays them out."""
    from kfp import compiler

    root = output_dir.rstrip("/")
    pipeline = create_pipeline(
        loaded,
        image=image,
        output_dir=root,
        serving_root=serving_root
        or f"{root}/{PYTORCH.orchestrator_dir}/{loaded.spec.name}/{SERVING_DIR}",
        log_root=log_root or f"{root}/{LOG_ROOT_DIR}",
        spec_dir=spec_dir,
    )
    output_file = Path(output_file).resolve()
    output_file.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(output_file))
    return output_file
