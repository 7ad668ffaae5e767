"""`tandem compile`: both pipelines as KFP v2 IR in one package directory, ready to upload.

Each framework's pipeline is written as a KFP v2 `PipelineSpec` YAML (the TFX side's
PipelineJob from `KubeflowV2DagRunner` is unwrapped: the KFP API server takes a PipelineSpec),
beside a `package.json` naming the files, images, MLflow settings and pipeline root.

The MLflow tracking URI and experiment reach every step as container environment
(`deploymentSpec.executors.*.container.env`, which the KFP v2 backend sets on each step's main
container). They are stamped into the IR after compiling, the same way for both frameworks, so
neither pipeline definition needs a deployment setting; `tandem submit --mlflow-uri` re-stamps
a package compiled earlier.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path

from components.common.errors import TandemError
from components.common.frameworks import NAMES, PYTORCH, TENSORFLOW, by_name
from components.common.tracking import EXPERIMENT_ENV, TRACKING_URI_ENV, experiment_name
from components.spec import LoadedSpec
from tandem.deploy.cluster_config import DEFAULT as DEFAULT_CLUSTER
from tandem.deploy.cluster_config import TRAINING_EXECUTORS, ClusterConfig, executor_config

# KFP's own default artifact root (its bundled MinIO or the object store it is configured with).
DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
MANIFEST_FILE = "package.json"


def default_image(framework: str) -> str:
    """The image `images/` builds for a framework, tagged with tandem's version (never latest)."""
    return by_name(framework).image(version("tandem"))


@dataclass(frozen=True)
class CompiledPipeline:
    framework: str
    name: str
    file: str
    image: str


@dataclass(frozen=True)
class Package:
    """A compiled package: `directory` holds the IR files and `package.json`."""

    directory: Path
    spec_name: str
    mlflow_tracking_uri: str
    mlflow_experiment: str
    pipeline_root: str
    pipelines: tuple[CompiledPipeline, ...]
    # framework → the Kubernetes service account its runs use (k8s/base/rbac)
    service_accounts: dict[str, str]

    def path(self, pipeline: CompiledPipeline) -> Path:
        return self.directory / pipeline.file

    def select(self, frameworks: Sequence[str]) -> tuple[CompiledPipeline, ...]:
        chosen = tuple(p for p in self.pipelines if p.framework in frameworks)
        missing = sorted(set(frameworks) - {p.framework for p in chosen})
        if missing:
            raise TandemError(
                f"{self.directory / MANIFEST_FILE}: the package has no {', '.join(missing)} "
                "pipeline; compile it with `tandem compile --framework …`"
            )
        return chosen


def step_environment(mlflow_uri: str, spec_name: str) -> dict[str, str]:
    return {TRACKING_URI_ENV: mlflow_uri, EXPERIMENT_ENV: experiment_name(spec_name)}


def set_executor_env(pipeline_spec, env: Mapping[str, str]) -> None:
    """Set `env` on every container executor of a `PipelineSpec` proto (replacing variables
    of the same name, keeping the others), sorted by name so the output is stable."""
    from google.protobuf import json_format

    deployment = json_format.MessageToDict(pipeline_spec.deployment_spec)
    for executor in deployment.get("executors", {}).values():
        container = executor.get("container")
        if container is None:
            continue
        merged = {item["name"]: item.get("value", "") for item in container.get("env", [])}
        merged.update(env)
        container["env"] = [{"name": name, "value": merged[name]} for name in sorted(merged)]
    pipeline_spec.deployment_spec.Clear()
    pipeline_spec.deployment_spec.update(deployment)


def set_cluster_config(pipeline_spec, platform_spec, cluster: ClusterConfig, gpus: int) -> None:
    """What k8s/ expects of every step (`cluster_config.executor_config`) into the Kubernetes
    platform spec; for a spec with GPUs, the accelerator type on the training executors."""
    from google.protobuf import json_format

    from pipelines.torch.pipeline import GPU_RESOURCE

    deployment = json_format.MessageToDict(pipeline_spec.deployment_spec)
    kubernetes = platform_spec.platforms["kubernetes"].deployment_spec
    configs = json_format.MessageToDict(kubernetes).get("executors", {})
    for name, executor in deployment.get("executors", {}).items():
        container = executor.get("container")
        if container is None:
            continue
        configs[name] = executor_config(cluster, name, gpus, configs.get(name))
        if gpus > 0 and name in TRAINING_EXECUTORS:
            resources = container.setdefault("resources", {})
            resources["accelerator"] = {
                "resourceType": cluster.accelerator_type or GPU_RESOURCE,
                "resourceCount": str(gpus),
            }
    kubernetes.Clear()
    json_format.ParseDict({"executors": configs}, kubernetes)
    pipeline_spec.deployment_spec.Clear()
    pipeline_spec.deployment_spec.update(deployment)


def read_ir(path: Path):
    """A compiled KFP v2 YAML (or a TFX PipelineJob JSON) as (PipelineSpec, PlatformSpec)."""
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    documents = [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]
    if not documents:
        raise TandemError(f"{path}: not a compiled pipeline (empty file)")
    spec_doc = documents[0].get("pipelineSpec", documents[0])
    try:
        pipeline_spec = json_format.ParseDict(spec_doc, pipeline_spec_pb2.PipelineSpec())
        platform_spec = pipeline_spec_pb2.PlatformSpec()
        if len(documents) > 1:
            json_format.ParseDict(documents[1], platform_spec)
    except json_format.ParseError as exc:
        raise TandemError(f"{path}: not a KFP v2 pipeline spec: {exc}") from None
    return pipeline_spec, platform_spec


def write_ir(
    path: Path,
    env: Mapping[str, str] | None,
    pipeline_root: str | None,
    cluster: tuple[ClusterConfig, int] | None = None,
) -> None:
    """Rewrite a compiled pipeline as KFP v2 YAML, with `env` on every step, `pipeline_root`
    as its default root (None keeps what the file has) and, given a (ClusterConfig, GPUs per
    node), the cluster's settings on the steps."""
    from kfp.compiler.pipeline_spec_builder import write_pipeline_spec_to_file

    pipeline_spec, platform_spec = read_ir(path)
    if cluster is not None:
        set_cluster_config(pipeline_spec, platform_spec, *cluster)
    if env:
        set_executor_env(pipeline_spec, env)
    if pipeline_root:
        pipeline_spec.default_pipeline_root = pipeline_root
    write_pipeline_spec_to_file(
        pipeline_spec=pipeline_spec,
        pipeline_description=pipeline_spec.pipeline_info.description or None,
        platform_spec=platform_spec,
        package_path=str(path),
    )


def _compile_tensorflow(
    loaded: LoadedSpec, output_file: Path, image: str, root: str, runs_dir: str
) -> None:
    from pipelines.tfx.kubeflow_v2_runner import compile_kubeflow_v2
    from pipelines.tfx.local_runner import SERVING_DIR

    with tempfile.TemporaryDirectory() as scratch:
        job = compile_kubeflow_v2(
            loaded,
            Path(scratch) / "pipeline_job.json",
            image=image,
            pipeline_root=root,
            # The same shared-volume layout as the PyTorch pipeline's defaults.
            serving_dir=f"{runs_dir}/{TENSORFLOW.orchestrator_dir}/{loaded.spec.name}/{SERVING_DIR}",
            runs_dir=runs_dir,
        )
        output_file.write_text(job.read_text())


def _compile_pytorch(
    loaded: LoadedSpec, output_file: Path, image: str, root: str, runs_dir: str
) -> None:
    from pipelines.torch.compiler import compile_pipeline

    compile_pipeline(loaded, output_file, image=image, output_dir=runs_dir)


COMPILERS = {TENSORFLOW.name: _compile_tensorflow, PYTORCH.name: _compile_pytorch}


def compile_package(
    loaded: LoadedSpec,
    output_dir: Path,
    frameworks: Sequence[str] = NAMES,
    images: Mapping[str, str] | None = None,
    mlflow_uri: str | None = None,
    pipeline_root: str = DEFAULT_PIPELINE_ROOT,
    cluster: ClusterConfig = DEFAULT_CLUSTER,
) -> Package:
    """Compile the chosen frameworks' pipelines into output_dir (created if needed) for their
    images (default: `default_image`), with the MLflow settings and the cluster's (k8s/'s
    ConfigMap tandem-training) on every step; tandem's output directory is the runs PVC, and
    the MLflow URI defaults to the cluster's."""
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    spec_name = loaded.spec.name
    mlflow_uri = mlflow_uri or cluster.mlflow_tracking_uri
    env = step_environment(mlflow_uri, spec_name)
    compiled = []
    for framework in NAMES:
        if framework not in frameworks:
            continue
        image = (images or {}).get(framework) or default_image(framework)
        name = by_name(framework).pipeline_name(spec_name)
        output_file = output_dir / f"{name}.yaml"
        COMPILERS[framework](loaded, output_file, image, pipeline_root, cluster.runs_mount_path)
        gpus = loaded.spec.training.workers.gpus_per_node
        write_ir(output_file, env, pipeline_root, (cluster, gpus))
        compiled.append(CompiledPipeline(framework, name, output_file.name, image))
    package = Package(
        directory=output_dir,
        spec_name=spec_name,
        mlflow_tracking_uri=mlflow_uri,
        mlflow_experiment=env[EXPERIMENT_ENV],
        pipeline_root=pipeline_root,
        pipelines=tuple(compiled),
        service_accounts={p.framework: cluster.run_service_account(p.framework) for p in compiled},
    )
    _write_manifest(package)
    return package


def _write_manifest(package: Package) -> None:
    manifest = {key: value for key, value in asdict(package).items() if key != "directory"}
    (package.directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def load_package(directory: Path) -> Package:
    """A package `compile_package` wrote (its `package.json` and IR files)."""
    directory = Path(directory).resolve()
    manifest_file = directory / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_file.read_text())
        pipelines = tuple(CompiledPipeline(**item) for item in manifest.pop("pipelines"))
        package = Package(directory=directory, pipelines=pipelines, **manifest)
    except FileNotFoundError:
        raise TandemError(f"{manifest_file}: not found; run `tandem compile` first") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise TandemError(f"{manifest_file}: not a tandem package manifest ({exc})") from None
    for pipeline in pipelines:
        if not package.path(pipeline).is_file():
            raise TandemError(f"{package.path(pipeline)}: listed in {manifest_file} but missing")
    return package


def restamp(package: Package, mlflow_uri: str, into: Path) -> Package:
    """A copy of the package in `into` with every step's MLflow tracking URI changed (the
    compiled package itself stays as it was)."""
    into = Path(into).resolve()
    into.mkdir(parents=True, exist_ok=True)
    env = step_environment(mlflow_uri, package.spec_name)
    for pipeline in package.pipelines:
        shutil.copyfile(package.path(pipeline), into / pipeline.file)
        write_ir(into / pipeline.file, env, None)
    copy = replace(package, directory=into, mlflow_tracking_uri=mlflow_uri)
    _write_manifest(copy)
    return copy


PARAMETER_TYPES = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "NUMBER_DOUBLE": float,
    "BOOLEAN": lambda text: text.lower() in ("1", "true", "yes"),
}


def run_parameters(
    package: Package, pipelines: Sequence[CompiledPipeline], assignments: Sequence[str]
) -> dict[str, dict[str, object]]:
    """`name=value` assignments as each pipeline's run parameters, typed as the pipeline
    declares them; a name goes to every chosen pipeline that has it, and must fit one."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    type_names = pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name
    declared = {
        pipeline.framework: {
            name: type_names(definition.parameter_type)
            for name, definition in read_ir(package.path(pipeline))[
                0
            ].root.input_definitions.parameters.items()
        }
        for pipeline in pipelines
    }
    params: dict[str, dict[str, object]] = {pipeline.framework: {} for pipeline in pipelines}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            raise TandemError(f"--param {assignment!r}: expected name=value")
        takers = [framework for framework, names in declared.items() if name in names]
        if not takers:
            known = sorted({n for names in declared.values() for n in names})
            raise TandemError(
                f"--param {name}: no chosen pipeline has this parameter "
                f"(known: {', '.join(known) or 'none'})"
            )
        for framework in takers:
            convert = PARAMETER_TYPES.get(declared[framework][name], str)
            try:
                params[framework][name] = convert(value)
            except ValueError:
                raise TandemError(
                    f"--param {name}={value}: the {framework} pipeline expects "
                    f"{declared[framework][name].lower()}"
                ) from None
    return params
