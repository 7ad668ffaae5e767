from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.k8s.manifests import VARIANTS, build, load


@dataclass(frozen=True)
class Built:
    variant: str
    path: Path
    docs: list[dict]


@pytest.fixture(scope="session")
def build_variant(tmp_path_factory):
    """`kustomize build` of a variant (once per session): its manifests file and documents."""
    cache: dict[str, Built] = {}

    def get(variant: str) -> Built:
        if variant not in cache:
            workdir = tmp_path_factory.mktemp(variant.replace("/", "-"))
            text = build(variant, workdir)
            path = workdir / "manifests.yaml"
            path.write_text(text)
            cache[variant] = Built(variant, path, load(text))
        return cache[variant]

    return get


@pytest.fixture(params=VARIANTS)
def built(request, build_variant) -> Built:
    return build_variant(request.param)
