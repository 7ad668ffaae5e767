"""The shared ingest as a Kubeflow Pipelines v2 component (the TFX wrapper lives with the TFX
pipeline). The component code is installed in the image; the function body only calls it.
"""

from kfp import dsl
from kfp.dsl import Dataset, Output
from kfp.dsl.python_component import PythonComponent


def ingest_snapshot(spec_yaml: str, spec_dir: str, output_dir: str, snapshot: Output[Dataset]):
    """Ingest the spec's data into `output_dir` (or reuse a cached snapshot); emit a Dataset.

    spec_yaml: the spec's text; spec_dir: the directory relative data sources resolve against;
    output_dir: persistent storage for snapshots (a volume on a cluster) so reruns hit the cache.
    """
    import shutil
    from pathlib import Path

    from components.common.process_exit import prepare_exit
    from components.ingest.run import run_ingest
    from components.spec import parse_spec

    loaded = parse_spec(spec_yaml, Path(spec_dir or ".").resolve() / "spec.yaml")
    result = run_ingest(loaded, Path(output_dir))
    shutil.copytree(result.snapshot_dir, snapshot.path)
    snapshot.metadata.update(
        {
            "fingerprint": result.manifest["fingerprint"],
            "cache_hit": result.cache_hit,
            "rows_read": result.counts["read"],
            "rows_accepted": result.counts["accepted"],
            "rows_quarantined": result.counts["quarantined"],
            "mlflow_run_id": result.mlflow_run_id or "",
        }
    )
    prepare_exit()


def ingest_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(ingest_snapshot, base_image=image, install_kfp_package=False)
