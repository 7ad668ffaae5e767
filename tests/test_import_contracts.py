"""The import contracts in pyproject.toml (import-linter): the tree keeps them, and each contract
catches a planted import that breaks it, in a copy of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tandem", "pipelines", "components", "benchmarks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports run in `tree`, which it puts first on the import path."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The packages' Python files and pyproject.toml, copied."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=_not_python)
    return tree


def _not_python(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".py") and not (Path(directory) / n).is_dir()]


def test_the_tree_keeps_every_contract(tree_copy) -> None:
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imports", "contract"),
    [
        (
            "components/common/upward.py",
            "from pipelines.local_run import LocalRunResult",
            "tandem -> pipelines -> components, never upwards",
        ),
        (
            "pipelines/upward.py",
            "from tandem.run_plan import seed_values",
            "tandem -> pipelines -> components, never upwards",
        ),
        (
            "components/tf_trainer/sideways.py",
            "from components.torch_trainer.batching import per_process_batch",
            "The two trainers never import each other",
        ),
        (
            "components/evaluate/registers.py",
            "from components.register.registry import log_and_register",
            "The judge never imports the registry step",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(tree_copy, module, imports, contract) -> None:
    planted = tree_copy / module
    planted.write_text(f"{imports}\n")
    try:
        result = lint_imports(tree_copy)
    finally:
        planted.unlink()
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
    dotted = module.removesuffix(".py").replace("/", ".")
    assert dotted in result.stdout
