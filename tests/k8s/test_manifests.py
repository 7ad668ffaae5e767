"""k8s/: each kustomize variant builds, validates against the schemas and passes checkov."""

from __future__ import annotations

import json

import pytest

from tandem.deploy.image_requirements import IMAGES
from tests.k8s.manifests import (
    DEPLOYABLE,
    KUBERNETES_VERSIONS,
    checkov,
    find,
    pod_specs,
    schema_problems,
)
from tests.k8s.policy import violations

# Every inline skip must be one of these (the reasons are in the annotations, checked below).
ALLOWED_SKIPS = {"CKV_K8S_43", "CKV_K8S_35"}
MLFLOW_HOSTS = ["mlflow", "mlflow.tandem", "mlflow.tandem.svc", "mlflow.tandem.svc.cluster.local"]


def test_builds_namespaced_resources(built):
    assert built.docs
    for doc in built.docs:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "tandem"
        else:
            assert doc["metadata"]["namespace"] == "tandem", doc["metadata"]["name"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_validate_strict(built, version):
    assert schema_problems(built.path, version) == []


@pytest.mark.parametrize("variant", DEPLOYABLE)
def test_checkov_reports_no_failed_check(build_variant, variant):
    report = checkov(build_variant(variant).path, "kubernetes")
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    for check in report["results"]["skipped_checks"]:
        assert check["check_id"] in ALLOWED_SKIPS, check["check_id"]
        assert len(check["check_result"]["suppress_comment"]) > 40, check["check_id"]


def test_checkov_passes_the_mlflow_image():
    report = checkov(IMAGES / "mlflow.Dockerfile", "dockerfile")
    assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
    # FROM ${BASE_IMAGE}: checkov cannot expand the build arg (the image tests check its tag).
    skipped = [check["check_id"] for check in report["results"]["skipped_checks"]]
    assert skipped == ["CKV_DOCKER_7"]


def test_namespace_enforces_restricted_pod_security(built):
    labels = find(built.docs, "Namespace", "tandem")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_meets_the_manifest_policy(built):
    """Restricted pods, bounded resources, probes, and secrets only by reference (policy.py)."""
    assert list(pod_specs(built.docs))
    assert violations(built.docs) == []


def test_mlflow_server(built):
    spec = find(built.docs, "Deployment", "mlflow")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["command"] == ["mlflow", "server"]
    args = dict(arg.removeprefix("--").split("=", 1) for arg in container["args"])
    assert args["host"] == "0.0.0.0"
    assert args["backend-store-uri"] == "$(MLFLOW_BACKEND_STORE_URI)"
    assert args["artifacts-destination"] == "$(MLFLOW_ARTIFACTS_DESTINATION)"
    allowed = args["allowed-hosts"].split(",")
    assert set(allowed) >= set(MLFLOW_HOSTS) | {f"{host}:5000" for host in MLFLOW_HOSTS}
    env = {e["name"]: e for e in container["env"]}
    for name in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "tandem-mlflow-s3"
    config = find(built.docs, "ConfigMap", "mlflow")["data"]
    assert config["artifacts-destination"].startswith("s3://")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    service = find(built.docs, "Service", "mlflow")["spec"]
    assert service["ports"][0]["port"] == 5000


def test_backend_store(built):
    env = {
        e["name"]: e
        for e in find(built.docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][
            0
        ]["env"]
    }
    uri = env["MLFLOW_BACKEND_STORE_URI"]
    if built.variant == "external-postgres":
        assert uri["valueFrom"]["secretKeyRef"] == {"name": "tandem-mlflow-db", "key": "dsn"}
        assert not [d for d in built.docs if d["kind"] == "StatefulSet"]
        return
    assert uri["value"].startswith("postgresql://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@")
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "tandem-postgres"
    postgres = find(built.docs, "StatefulSet", "postgres")["spec"]
    assert postgres["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    volumes = {v["name"]: v for v in postgres["template"]["spec"]["volumes"]}
    assert volumes["password"]["secret"]["secretName"] == "tandem-postgres"
    assert find(built.docs, "Service", "postgres")["spec"]["clusterIP"] == "None"


def test_network_policies(built):
    deny = find(built.docs, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    mlflow = find(built.docs, "NetworkPolicy", "mlflow")["spec"]
    assert mlflow["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "mlflow"}
    (rule,) = mlflow["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5000}]
    assert [peer["podSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"tandem/pipeline-step": "true"},
        {"app.kubernetes.io/managed-by": "torchx.pytorch.org"},
    ]
    if built.variant != "external-postgres":
        (rule,) = find(built.docs, "NetworkPolicy", "postgres")["spec"]["ingress"]
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}
        ]
        assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_rbac_is_namespaced_and_least_privilege(built):
    kinds = {doc["kind"] for doc in built.docs}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    for doc in built.docs:
        if doc["kind"] == "Role":
            for rule in doc["rules"]:
                assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
    torchx = find(built.docs, "Role", "tandem-torchx-scheduler")["rules"]
    jobs = next(
        r for r in torchx if r["apiGroups"] == ["batch.volcano.sh"] and r["resources"] == ["jobs"]
    )
    assert set(jobs["verbs"]) == {"create", "get", "list", "watch", "delete"}
    assert {"resources": ["pods/log"], "verbs": ["get"], "apiGroups": [""]} in torchx
    binding = find(built.docs, "RoleBinding", "tandem-torchx-scheduler")
    assert binding["subjects"][0]["name"] == "tandem-torchx"
    step = find(built.docs, "Role", "tandem-pipeline-step")["rules"]
    secrets = next(r for r in step if r["resources"] == ["secrets"])
    assert secrets["verbs"] == ["get"] and secrets["resourceNames"]
    for account in ("tandem-pipeline", "tandem-torchx", "tandem-trainer"):
        find(built.docs, "ServiceAccount", account)
    assert (
        find(built.docs, "ServiceAccount", "tandem-trainer")["automountServiceAccountToken"]
        is False
    )


def test_runs_volume_is_shared(built):
    claim = find(built.docs, "PersistentVolumeClaim", "tandem-runs")["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"]
    training = find(built.docs, "ConfigMap", "tandem-training")["data"]
    assert training["runs-pvc"] == "tandem-runs"


def test_training_settings_per_overlay(build_variant):
    cpu = find(build_variant("overlays/cpu").docs, "ConfigMap", "tandem-training")["data"]
    assert cpu["accelerator-type"] == ""
    assert json.loads(cpu["node-selector"]) == {} and json.loads(cpu["tolerations"]) == []

    gpu = find(build_variant("overlays/gpu").docs, "ConfigMap", "tandem-training")["data"]
    assert gpu["accelerator-type"] == "nvidia.com/gpu"
    assert json.loads(gpu["node-selector"]) == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in json.loads(
        gpu["tolerations"]
    )
    for key in ("pod-labels", "pod-security-context", "container-security-context"):
        assert json.loads(gpu[key]) == json.loads(cpu[key])
    assert json.loads(gpu["pod-labels"]) == {"tandem/pipeline-step": "true"}


def test_overlays_map_every_image(build_variant):
    for variant in DEPLOYABLE:
        for name, spec in pod_specs(build_variant(variant).docs):
            for container in spec["containers"]:
                image = container["image"]
                assert "/" in image and (":" in image or "@sha256:" in image), f"{name}: {image}"
