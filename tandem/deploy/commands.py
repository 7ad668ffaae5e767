"""The deployment commands: `tandem compile`, `submit` and `schedule` (Kubeflow Pipelines).

Registered on the `tandem` app by `tandem.cli`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from components.common.errors import TandemError
from components.common.frameworks import PYTORCH, TENSORFLOW
from components.spec import load_spec, spec_location
from tandem.cli_common import Framework, SpecOption, console, print_section
from tandem.deploy.options import (
    ClusterConfigOption,
    FrameworkOption,
    HostOption,
    KfpExperimentOption,
    MlflowUriOption,
    NamespaceOption,
    PackageOption,
    ParamOption,
    PipelineRootOption,
    TfxImageOption,
    TokenOption,
    TorchImageOption,
)


def _compile(
    spec: Path | None,
    output: Path,
    framework: list[Framework] | None,
    tfx_image: str | None,
    torch_image: str | None,
    mlflow_uri: str | None,
    pipeline_root: str | None,
    cluster_config: Path | None,
):
    from tandem.deploy.cluster_config import load_cluster_config
    from tandem.deploy.package import DEFAULT_PIPELINE_ROOT, compile_package

    loaded = load_spec(spec_location(spec))
    chosen = [name.value for name in framework or list(Framework)]
    with console.status(f"compile: {', '.join(chosen)} pipelines to KFP v2 IR", spinner="dots"):
        return compile_package(
            loaded,
            output,
            frameworks=chosen,
            images={TENSORFLOW.name: tfx_image, PYTORCH.name: torch_image},
            mlflow_uri=mlflow_uri,
            pipeline_root=pipeline_root or DEFAULT_PIPELINE_ROOT,
            cluster=load_cluster_config(cluster_config),
        )


def compile_command(
    output: Annotated[Path, typer.Option("--output", help="Directory for the compiled package.")],
    spec: SpecOption = None,
    framework: FrameworkOption = None,
    tfx_image: TfxImageOption = None,
    torch_image: TorchImageOption = None,
    mlflow_uri: MlflowUriOption = None,
    pipeline_root: PipelineRootOption = None,
    cluster_config: ClusterConfigOption = None,
) -> None:
    """Compile both pipelines to KFP v2 IR (one YAML each, plus package.json) for the given
    images, with MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME set on every step."""
    package = _compile(
        spec, output, framework, tfx_image, torch_image, mlflow_uri, pipeline_root, cluster_config
    )
    print_section(
        "compile",
        [
            *((p.framework, f"{package.path(p)}  ({p.image})") for p in package.pipelines),
            ("MLflow", f"{package.mlflow_tracking_uri} experiment {package.mlflow_experiment}"),
            ("pipeline root", package.pipeline_root),
        ],
    )


@dataclass(frozen=True)
class DeployOptions:
    spec: Path | None
    framework: list[Framework] | None
    package: Path | None
    tfx_image: str | None
    torch_image: str | None
    mlflow_uri: str | None
    pipeline_root: str | None
    cluster_config: Path | None


@contextlib.contextmanager
def _deployable(options: DeployOptions):
    """The package to deploy, the chosen pipelines in it and the pipeline root: compiled into
    a scratch directory, or --package (copied with a new MLflow URI when --mlflow-uri is
    given; its images and spec are fixed, the pipeline root may be overridden per run)."""
    import tempfile

    from tandem.deploy.package import load_package, restamp

    chosen = [name.value for name in options.framework or list(Framework)]
    with tempfile.TemporaryDirectory(prefix="tandem-package-") as scratch:
        if options.package is None:
            package = _compile(
                options.spec,
                Path(scratch),
                options.framework,
                options.tfx_image,
                options.torch_image,
                options.mlflow_uri,
                options.pipeline_root,
                options.cluster_config,
            )
        else:
            fixed = {"--spec": options.spec, "--tfx-image": options.tfx_image}
            fixed["--torch-image"] = options.torch_image
            fixed["--cluster-config"] = options.cluster_config
            given = [flag for flag, value in fixed.items() if value is not None]
            if given:
                raise TandemError(
                    f"{', '.join(given)}: fixed when the package was compiled; "
                    "recompile (`tandem compile`) or drop --package"
                )
            package = load_package(options.package)
            if options.mlflow_uri and options.mlflow_uri != package.mlflow_tracking_uri:
                package = restamp(package, options.mlflow_uri, Path(scratch))
        yield package, package.select(chosen), options.pipeline_root or package.pipeline_root


def _connect(host: str, namespace: str | None, token: str | None):
    from tandem.deploy.client import Deployer, Target

    with console.status(f"connecting to Kubeflow Pipelines at {host}", spinner="dots"):
        return Deployer(Target(host, namespace, token))


@dataclass(frozen=True)
class Launch:
    """One uploaded pipeline and what a run or recurring run of it takes."""

    framework: str
    name: str
    uploaded: object  # tandem.deploy.client.Uploaded
    experiment_id: str
    params: dict
    root: str
    service_account: str


@contextlib.contextmanager
def _launches(
    options: DeployOptions,
    param: list[str] | None,
    host: str,
    namespace: str | None,
    token: str | None,
    experiment: str | None,
):
    """The package, and each chosen pipeline uploaded in turn (lazily: a pipeline is uploaded
    when its Launch is taken) with its parameters, root and service account."""
    from tandem.deploy.package import run_parameters

    with _deployable(options) as (compiled, chosen, root):
        params = run_parameters(compiled, chosen, param or [])
        deployer = _connect(host, namespace, token)
        experiment_id = deployer.experiment_id(experiment or compiled.mlflow_experiment)

        def launches():
            for pipeline in chosen:
                yield Launch(
                    pipeline.framework,
                    pipeline.name,
                    deployer.upload(compiled, pipeline),
                    experiment_id,
                    params[pipeline.framework],
                    root,
                    compiled.service_accounts[pipeline.framework],
                )

        yield compiled, deployer, launches()


def submit(
    host: HostOption,
    namespace: NamespaceOption = None,
    existing_token: TokenOption = None,
    experiment: KfpExperimentOption = None,
    spec: SpecOption = None,
    framework: FrameworkOption = None,
    package: PackageOption = None,
    param: ParamOption = None,
    tfx_image: TfxImageOption = None,
    torch_image: TorchImageOption = None,
    mlflow_uri: MlflowUriOption = None,
    pipeline_root: PipelineRootOption = None,
    cluster_config: ClusterConfigOption = None,
) -> None:
    """Upload both pipelines to Kubeflow Pipelines (a new version when they exist) and start
    a run of each; prints the run ids and URLs."""
    options = DeployOptions(
        spec, framework, package, tfx_image, torch_image, mlflow_uri, pipeline_root, cluster_config
    )
    rows = []
    with _launches(options, param, host, namespace, existing_token, experiment) as (
        compiled,
        deployer,
        launches,
    ):
        for launch in launches:
            submitted = deployer.run(
                launch.uploaded,
                launch.experiment_id,
                launch.params,
                launch.root,
                launch.service_account,
            )
            uploaded = launch.uploaded
            version = "new version" if uploaded.new_version else "unchanged version"
            rows.append((launch.framework, f"run {submitted.run_id}  {submitted.url}"))
            rows.append(("", f"{launch.name} {version} {uploaded.version_id}"))
    rows.append(
        ("MLflow", f"{compiled.mlflow_tracking_uri} experiment {compiled.mlflow_experiment}")
    )
    print_section("submit", rows)


def schedule(
    host: HostOption,
    cron: Annotated[
        str | None,
        typer.Option(
            help='When to run, e.g. "0 3 * * *" (03:00 daily; 5 fields, or KFP\'s 6 with '
            "seconds first). Replaces a schedule of the same name.",
            show_default=False,
        ),
    ] = None,
    pause: Annotated[bool, typer.Option("--pause", help="Pause the recurring runs.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Resume paused ones.")] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the recurring runs.")] = False,
    namespace: NamespaceOption = None,
    existing_token: TokenOption = None,
    experiment: KfpExperimentOption = None,
    spec: SpecOption = None,
    framework: FrameworkOption = None,
    package: PackageOption = None,
    param: ParamOption = None,
    tfx_image: TfxImageOption = None,
    torch_image: TorchImageOption = None,
    mlflow_uri: MlflowUriOption = None,
    pipeline_root: PipelineRootOption = None,
    cluster_config: ClusterConfigOption = None,
) -> None:
    """Create a recurring run (cron) of each pipeline — uploading them as `submit` does — or
    pause, resume or delete the existing ones (named <pipeline>-schedule)."""
    actions = [
        name for name, on in (("paused", pause), ("resumed", resume), ("deleted", delete)) if on
    ]
    if len(actions) + (cron is not None) != 1:
        raise TandemError("schedule: give exactly one of --cron, --pause, --resume, --delete")
    if actions:
        connection = (host, namespace, existing_token)
        rows = _change_schedules(connection, actions[0], spec, package, framework)
    else:
        options = DeployOptions(
            spec,
            framework,
            package,
            tfx_image,
            torch_image,
            mlflow_uri,
            pipeline_root,
            cluster_config,
        )
        rows = _create_schedules(cron, options, param, host, namespace, existing_token, experiment)
    print_section("schedule", rows)


def _change_schedules(connection, action: str, spec, package, framework) -> list[tuple[str, str]]:
    """Pause, resume or delete the recurring runs of the chosen pipelines."""
    from components.common.frameworks import by_name

    if package is not None:
        from tandem.deploy.package import load_package

        spec_name = load_package(package).spec_name
    else:
        spec_name = load_spec(spec_location(spec)).spec.name
    deployer = _connect(*connection)
    rows = []
    for name in framework or list(Framework):
        pipeline = by_name(name.value).pipeline_name(spec_name)
        for changed in deployer.change(pipeline, action):
            rows.append((name.value, f"{changed.action} {changed.name} {changed.recurring_run_id}"))
    return rows


def _create_schedules(
    cron: str, options, param, host, namespace, existing_token, experiment
) -> list[tuple[str, str]]:
    """Upload the pipelines as `submit` does, then a recurring run of each on `cron`."""
    from tandem.deploy.client import kfp_cron

    kfp_cron(cron)  # a malformed expression fails before anything is compiled or uploaded
    rows = []
    with _launches(options, param, host, namespace, existing_token, experiment) as (
        _,
        deployer,
        launches,
    ):
        for launch in launches:
            scheduled = deployer.schedule(
                launch.uploaded,
                launch.experiment_id,
                cron,
                launch.params,
                launch.root,
                launch.service_account,
            )
            rows.append(
                (
                    launch.framework,
                    f"{scheduled.action} {scheduled.name} {scheduled.recurring_run_id}  "
                    f"{scheduled.url}",
                )
            )
    rows.append(("cron", f"{cron} (KFP: {kfp_cron(cron)})"))
    return rows
