"""The options the deployment commands share (`tandem compile`, `submit`, `schedule`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tandem.cli_common import Framework

FrameworkOption = Annotated[
    list[Framework] | None,
    typer.Option(help="Only this framework's pipeline (repeatable; default: both)."),
]
TfxImageOption = Annotated[
    str | None,
    typer.Option(
        "--tfx-image",
        help="Image of the TFX steps (images/tfx.Dockerfile; default: tandem-tfx:<version>).",
        show_default=False,
    ),
]
TorchImageOption = Annotated[
    str | None,
    typer.Option(
        "--torch-image",
        help="Image of the PyTorch steps (images/torch.Dockerfile; default: "
        "tandem-torch:<version>).",
        show_default=False,
    ),
]
MlflowUriOption = Annotated[
    str | None,
    typer.Option(
        "--mlflow-uri",
        help="MLflow tracking URI every step gets as MLFLOW_TRACKING_URI (default: "
        "the --cluster-config's, k8s/'s Service; with --package: the package's).",
        show_default=False,
    ),
]
PipelineRootOption = Annotated[
    str | None,
    typer.Option(
        "--pipeline-root",
        help="KFP artifact root (default: minio://mlpipeline/v2/artifacts; with --package: "
        "the package's).",
        show_default=False,
    ),
]
HostOption = Annotated[
    str,
    typer.Option(
        "--host",
        help="Kubeflow Pipelines API endpoint, e.g. http://localhost:8080 (each request times "
        "out after TANDEM_KFP_TIMEOUT_S seconds, default 60).",
        show_default=False,
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(help="Your profile namespace (multi-user Kubeflow).", show_default=False),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--existing-token",
        envvar="KF_PIPELINES_TOKEN",
        help="Bearer token for the KFP API (or set KF_PIPELINES_TOKEN).",
        show_default=False,
    ),
]
KfpExperimentOption = Annotated[
    str | None,
    typer.Option(
        "--experiment",
        help="KFP experiment (default: the MLflow experiment's name, tandem-<spec>).",
        show_default=False,
    ),
]
PackageOption = Annotated[
    Path | None,
    typer.Option(
        "--package",
        help="A directory `tandem compile` wrote (default: compile now).",
        show_default=False,
    ),
]
ClusterConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--cluster-config",
        help="The cluster's ConfigMap tandem-training as YAML (`kubectl get configmap "
        "tandem-training -o yaml`, or a k8s/ overlay's `kustomize build`): runs PVC and mount, "
        "step labels, GPU node selector/tolerations, service accounts (default: k8s/base's).",
        show_default=False,
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="A run parameter name=value, repeatable; goes to each pipeline that declares it.",
        show_default=False,
    ),
]
