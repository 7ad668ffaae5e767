"""Build the kustomize variants of k8s/ and run the manifest tools installed by `make setup`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUSTOMIZE = ROOT / ".tools" / "bin" / "kustomize"
TOOLS_BIN = ROOT / ".venv-tools" / "bin"
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}

# The deployable variants; "external-postgres" is the cpu overlay plus that component.
VARIANTS = ("base", "overlays/cpu", "overlays/gpu", "external-postgres")
# The base names its images by role only (the overlays map them to real images), so checkov's
# image-tag check can only pass on what is deployed.
DEPLOYABLE = VARIANTS[1:]


def tool(path: Path) -> Path:
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path.name} is missing at {path}: run make setup")
    return path


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False)


def build(variant: str, workdir: Path) -> str:
    """`kustomize build` of a variant; the composition variant gets a kustomization in workdir."""
    target = K8S / variant
    if variant == "external-postgres":
        k8s = os.path.relpath(K8S, workdir)
        (workdir / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources: [{k8s}/overlays/cpu]\n"
            f"components: [{k8s}/components/external-postgres]\n"
        )
        target = workdir
    result = run(tool(KUSTOMIZE), "build", target)
    assert result.returncode == 0, f"kustomize build {variant} failed:\n{result.stderr}"
    return result.stdout


def checkov(path: Path, framework: str) -> dict:
    result = run(
        tool(TOOLS_BIN / "checkov"),
        "--file",
        path,
        "--framework",
        framework,
        "--skip-download",
        "--output",
        "json",
    )
    assert result.returncode in (0, 1), f"checkov crashed:\n{result.stderr}"
    return json.loads(result.stdout)


def schema_problems(path: Path, version: str) -> list[str]:
    """kubernetes-validate --strict's complaints: its errors, and its warnings, since a kind and
    apiVersion it has no schema for (a removed `apps/v1beta1`) is only a warning, exit code 0."""
    result = run(
        tool(TOOLS_BIN / "kubernetes-validate"), "--strict", "-k", version, "--quiet", path
    )
    problems = [line for line in result.stdout.splitlines() if line.startswith(("ERROR", "WARN"))]
    assert problems or result.returncode == 0, result.stdout + result.stderr
    return problems


def pod_specs(docs: list[dict]) -> Iterator[tuple[str, dict]]:
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield (
                f"CronJob/{doc['metadata']['name']}",
                doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            )
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def load(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]
