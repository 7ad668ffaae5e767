"""The cluster side's settings for the compiled pipelines: ConfigMap `tandem-training` of k8s/.

KFP creates the step pods, not k8s/'s manifests, so `tandem compile` writes what the cluster
expects of them into the IR's Kubernetes platform spec: the shared PVC at its mount path (also
tandem's output directory on the cluster), the pod label the MLflow NetworkPolicy admits, the
MLflow Service's URI (unless --mlflow-uri says otherwise), and, for the training steps of a spec
that asks for GPUs (`training.workers.gpus_per_node`), the accelerator resource, node selector
and tolerations of the `gpu` overlay: how many GPUs is the spec's, which resource and which nodes
the cluster's. `submit` and `schedule` run the pipelines under the ConfigMap's service accounts.

`--cluster-config FILE` reads the ConfigMap from a YAML file (`kubectl get configmap
tandem-training -o yaml`, or the `kustomize build` of an overlay); without it, the values of
k8s/base apply (`DEFAULT`, which a test holds equal to the cpu overlay's ConfigMap).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from components.common.errors import TandemError
from components.common.frameworks import PYTORCH

CONFIGMAP = "tandem-training"
# The executors that train: the PyTorch pipeline's train step and TFX's Trainer.
TRAINING_EXECUTORS = frozenset({"exec-train-model", "Trainer_executor"})


@dataclass(frozen=True)
class ClusterConfig:
    service_account: str = "tandem-pipeline"
    torchx_service_account: str = "tandem-torchx"
    pod_labels: dict[str, str] = field(default_factory=lambda: {"tandem/pipeline-step": "true"})
    runs_pvc: str = "tandem-runs"
    runs_mount_path: str = "/mnt/tandem-runs"
    mlflow_tracking_uri: str = "http://mlflow.tandem.svc.cluster.local:5000"
    accelerator_type: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict] = field(default_factory=list)

    def run_service_account(self, framework: str) -> str:
        """The PyTorch pipeline's train step launches TorchX jobs: it needs that account."""
        return self.torchx_service_account if framework == PYTORCH.name else self.service_account


DEFAULT = ClusterConfig()
_KEYS = {
    "service-account": ("service_account", str),
    "torchx-service-account": ("torchx_service_account", str),
    "pod-labels": ("pod_labels", dict),
    "runs-pvc": ("runs_pvc", str),
    "runs-mount-path": ("runs_mount_path", str),
    "mlflow-tracking-uri": ("mlflow_tracking_uri", str),
    "accelerator-type": ("accelerator_type", str),
    "node-selector": ("node_selector", dict),
    "tolerations": ("tolerations", list),
}


def from_configmap_data(data: dict[str, str], source: str) -> ClusterConfig:
    """A ClusterConfig from the ConfigMap's data; keys it lacks keep k8s/base's values."""
    values = {}
    for key, (name, kind) in _KEYS.items():
        if key not in data:
            continue
        raw = data[key]
        if kind is str:
            values[name] = raw
            continue
        try:
            parsed = json.loads(raw) if raw else kind()
        except json.JSONDecodeError as exc:
            raise TandemError(f"{source}: {CONFIGMAP} key {key!r} is not JSON: {exc}") from None
        if not isinstance(parsed, kind):
            raise TandemError(f"{source}: {CONFIGMAP} key {key!r} must be a JSON {kind.__name__}")
        values[name] = parsed
    return ClusterConfig(**values)


def load_cluster_config(path: Path | None) -> ClusterConfig:
    """The ConfigMap `tandem-training` in a YAML file (one or many documents); DEFAULT for None."""
    import yaml

    if path is None:
        return DEFAULT
    path = Path(path)
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except OSError as exc:
        raise TandemError(f"{path}: cannot read the cluster config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TandemError(f"{path}: not YAML: {exc}") from None
    for document in documents:
        if (
            isinstance(document, dict)
            and document.get("kind") == "ConfigMap"
            and document.get("metadata", {}).get("name") == CONFIGMAP
        ):
            return from_configmap_data(document.get("data") or {}, str(path))
    raise TandemError(
        f"{path}: no ConfigMap {CONFIGMAP}; pass `kubectl -n tandem get configmap {CONFIGMAP} "
        "-o yaml` or the `kustomize build` output of a k8s/ overlay"
    )


def executor_config(
    config: ClusterConfig, executor: str, gpus: int, existing: dict | None = None
) -> dict:
    """One executor's Kubernetes platform config (the JSON form of kfp-kubernetes'
    KubernetesExecutorConfig), merged into what the compiler already wrote."""
    merged = dict(existing or {})
    mounts = [m for m in merged.get("pvcMount", []) if m.get("mountPath") != config.runs_mount_path]
    merged["pvcMount"] = [
        *mounts,
        {"constant": config.runs_pvc, "mountPath": config.runs_mount_path},
    ]
    metadata = dict(merged.get("podMetadata", {}))
    metadata["labels"] = {**metadata.get("labels", {}), **config.pod_labels}
    merged["podMetadata"] = metadata
    if gpus > 0 and executor in TRAINING_EXECUTORS:
        if config.node_selector:
            merged["nodeSelector"] = {"labels": dict(config.node_selector)}
        if config.tolerations:
            merged["tolerations"] = [dict(toleration) for toleration in config.tolerations]
    return merged
