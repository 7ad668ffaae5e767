"""The rules of k8s/'s manifests that neither schema validation nor checkov enforces for us
(checkov passes `runAsNonRoot: false` with a high `runAsUser`, and looks at neither a Secret's
data nor a literal password in an env value): `violations` lists every breach as (rule, where),
so a test can hold the built variants to none and a broken manifest to the rule it breaks."""

from __future__ import annotations

from typing import NamedTuple

from tests.k8s.manifests import pod_specs

SECRET_ENV_WORDS = ("PASSWORD", "SECRET", "ACCESS_KEY", "DSN", "TOKEN")
RESTRICTED_CONTEXT = {
    "privileged": lambda c: c.get("privileged", False) is False,
    "privilege-escalation": lambda c: c.get("allowPrivilegeEscalation") is False,
    "run-as-non-root": lambda c: c.get("runAsNonRoot") is True,
    "read-only-root": lambda c: c.get("readOnlyRootFilesystem") is True,
    "capabilities": lambda c: c.get("capabilities") == {"drop": ["ALL"]},
    "seccomp": lambda c: c.get("seccompProfile") == {"type": "RuntimeDefault"},
}


class Violation(NamedTuple):
    rule: str
    where: str


def violations(docs: list[dict]) -> list[Violation]:
    found = [
        Violation("secret-data", f"Secret/{doc['metadata']['name']}")
        for doc in docs
        if doc["kind"] == "Secret" and (doc.get("data") or doc.get("stringData"))
    ]
    for name, spec in pod_specs(docs):
        found += _pod(name, spec)
    return found


def _pod(name: str, spec: dict) -> list[Violation]:
    found = []
    if spec.get("automountServiceAccountToken") is not False:
        found.append(Violation("service-account-token", name))
    pod = spec.get("securityContext", {})
    if pod.get("runAsNonRoot") is not True:
        found.append(Violation("run-as-non-root", name))
    if pod.get("runAsUser", 0) < 10000 or pod.get("runAsGroup", 0) < 10000:
        found.append(Violation("high-uid", name))
    if pod.get("seccompProfile") != {"type": "RuntimeDefault"}:
        found.append(Violation("seccomp", name))
    init = spec.get("initContainers", [])
    for container in spec["containers"] + init:
        where = f"{name}/{container['name']}"
        context = container.get("securityContext", {})
        found += [
            Violation(rule, where) for rule, ok in RESTRICTED_CONTEXT.items() if not ok(context)
        ]
        resources = container.get("resources", {})
        if any(not {"cpu", "memory"} <= set(resources.get(b, {})) for b in ("requests", "limits")):
            found.append(Violation("resource-bounds", where))
        if container not in init and not {"readinessProbe", "livenessProbe"} <= set(container):
            found.append(Violation("probes", where))
        found += [
            Violation("secret-env-literal", f"{where}:{e}") for e in _literal_secrets(container)
        ]
    return found


def _literal_secrets(container: dict) -> list[str]:
    """Env variables that carry a secret in the manifest, not by reference: a `_FILE` path
    outside the mounted secrets, or a secret-named variable not read from a Secret."""
    literal = []
    for env in container.get("env", []):
        name = env["name"]
        if name.endswith("_FILE"):
            by_reference = env.get("value", "").startswith("/run/secrets/")
        else:
            secret = any(word in name for word in SECRET_ENV_WORDS)
            by_reference = not secret or "secretKeyRef" in env.get("valueFrom", {})
        if not by_reference:
            literal.append(name)
    return literal
