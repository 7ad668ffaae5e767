"""The validators of k8s/ reject what they are there to reject: each case breaks one thing in a
copy of a resource of the built cpu overlay, and names the rule of each validator it must trip
(tests/k8s/policy.py, checkov, kubernetes-validate --strict) and nothing else on that resource.
All copies go into one file with the real manifests, so checkov and the schemas run once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import yaml

from tests.k8s.manifests import KUBERNETES_VERSIONS, checkov, find, schema_problems
from tests.k8s.policy import violations


def _mlflow(docs: list[dict]) -> dict:
    return copy.deepcopy(find(docs, "Deployment", "mlflow"))


def _container(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]["containers"][0]


def privileged(docs):
    doc = _mlflow(docs)
    _container(doc)["securityContext"]["privileged"] = True
    return doc


def privilege_escalation(docs):
    doc = _mlflow(docs)
    _container(doc)["securityContext"]["allowPrivilegeEscalation"] = True
    return doc


def runs_as_root(docs):
    doc = _mlflow(docs)
    doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    _container(doc)["securityContext"]["runAsNonRoot"] = False
    return doc


def no_cpu_limit(docs):
    doc = _mlflow(docs)
    del _container(doc)["resources"]["limits"]["cpu"]
    return doc


def no_memory_limit(docs):
    doc = _mlflow(docs)
    del _container(doc)["resources"]["limits"]["memory"]
    return doc


def password_in_env(docs):
    doc = _mlflow(docs)
    env = next(e for e in _container(doc)["env"] if e["name"] == "POSTGRES_PASSWORD")
    env.pop("valueFrom")
    env["value"] = "hunter2"
    return doc


def secret_in_git(docs):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tandem-postgres", "namespace": "tandem"},
        "stringData": {"password": "hunter2"},
    }


def removed_api_version(docs):
    doc = _mlflow(docs)
    doc["apiVersion"] = "apps/v1beta1"
    return doc


def misspelt_field(docs):
    doc = _mlflow(docs)
    _container(doc)["securityContxt"] = _container(doc).pop("securityContext")
    return doc


@dataclass(frozen=True)
class Case:
    mutate: Callable[[list[dict]], dict]
    policy: set[str] = field(default_factory=set)
    checkov: set[str] = field(default_factory=set)
    schema: str = ""

    @property
    def name(self) -> str:
        return self.mutate.__name__.replace("_", "-")


CASES = [
    Case(privileged, policy={"privileged"}, checkov={"CKV_K8S_16"}),
    Case(privilege_escalation, policy={"privilege-escalation"}, checkov={"CKV_K8S_20"}),
    # checkov's root check (CKV_K8S_23) is content with runAsUser >= 10000: only the policy sees it.
    Case(runs_as_root, policy={"run-as-non-root"}),
    Case(no_cpu_limit, policy={"resource-bounds"}, checkov={"CKV_K8S_11"}),
    Case(no_memory_limit, policy={"resource-bounds"}, checkov={"CKV_K8S_13"}),
    Case(password_in_env, policy={"secret-env-literal"}),
    Case(secret_in_git, policy={"secret-data"}),
    Case(
        removed_api_version,
        schema="Couldn't find schema for kind Deployment with api version apps/v1beta1",
    ),
    Case(
        misspelt_field,
        # Without a securityContext the container breaks every restricted rule it must state.
        policy={"privilege-escalation", "run-as-non-root", "read-only-root", "capabilities"}
        | {"seccomp"},
        checkov={"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_28", "CKV_K8S_30", "CKV_K8S_37"},
        schema="Additional properties are not allowed ('securityContxt' was unexpected)",
    ),
]


@dataclass(frozen=True)
class Verdicts:
    broken: dict[str, tuple[str, str]]  # case name: the (kind, name) of its broken copy
    policy: list
    checkov: list[dict]
    schema: list[str]


@pytest.fixture(scope="module")
def verdicts(build_variant, tmp_path_factory) -> Verdicts:
    docs = build_variant("overlays/cpu").docs
    broken = []
    for case in CASES:
        doc = case.mutate(docs)
        doc["metadata"]["name"] += f"-{case.name}"
        broken.append(doc)
    path = tmp_path_factory.mktemp("broken") / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs + broken, sort_keys=False))
    report = checkov(path, "kubernetes")
    return Verdicts(
        broken={
            c.name: (d["kind"], d["metadata"]["name"]) for c, d in zip(CASES, broken, strict=True)
        },
        policy=violations(broken),
        checkov=report["results"]["failed_checks"],
        schema=schema_problems(path, KUBERNETES_VERSIONS[0]),
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_validator_rejects_what_it_must(verdicts, case):
    kind, name = verdicts.broken[case.name]
    policy = {v.rule for v in verdicts.policy if v.where.split("/")[:2] == [kind, name]}
    assert policy == case.policy
    failed = {c["check_id"] for c in verdicts.checkov if c["resource"] == f"{kind}.tandem.{name}"}
    assert failed == case.checkov
    schema = [line for line in verdicts.schema if f"{kind.lower()}/{name} " in line]
    if case.schema:
        schema += [line for line in verdicts.schema if case.schema in line and line not in schema]
        assert len(schema) == 1 and case.schema in schema[0], verdicts.schema
    else:
        assert schema == []
