"""The built images against what the compiled pipelines and the lock expect: every entry point
and module path the IR names exists in its image, pip freeze is the lock subset, no compiler is
left, the user is non-root; and `make images` is a no-op when nothing changed."""

from __future__ import annotations

import ast
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

from components.common.frameworks import PYTORCH, TENSORFLOW
from components.spec import default_spec_path, load_spec
from tandem.deploy.image_requirements import SUBSETS, lock_pins, subset_path
from tandem.deploy.local_images import NAMES, ROOT, SUMMARY
from tests.images.containers import (
    IMAGE_USER,
    commands_found,
    container,
    make_writable,
    run_in,
)

pytestmark = [pytest.mark.images, pytest.mark.slow]

PIPELINE_IMAGES = {TENSORFLOW.name: "tfx", PYTORCH.name: "torch"}
# What the base ships beside the interpreter (as python:3.11-slim does): pip (upgraded to the
# project's pin by the Dockerfiles) and setuptools, kept unless a subset pins it.
BASE_PACKAGES = {"pip", "setuptools"}
PIP_PIN = "26.3"
BUILD_TOOLS = ("gcc", "g++", "cc", "c++", "cpp", "make", "ld", "as", "clang")
BUILD_PACKAGE = re.compile(r"^(gcc-\d+|g\+\+(-\d+)?|gcc|cpp(-\d+)?|binutils.*|make|libc6-dev)$")
# Checks one image's Python side in one process: modules importable, attributes present.
IMPORT_CHECK = """
import importlib, json, sys
missing = []
for module, attribute in json.loads(sys.argv[1]):
    try:
        loaded = importlib.import_module(module)
        if attribute and not hasattr(loaded, attribute):
            missing.append(f"{module}.{attribute}")
    except Exception as error:
        missing.append(f"{module}: {type(error).__name__}: {error}")
print(json.dumps(missing))
"""


@pytest.fixture(scope="module")
def compiled_package(built_images, tmp_path_factory) -> dict[str, dict]:
    """Both pipelines compiled for the built images, as `tandem compile` packages them."""
    from tandem.deploy.package import compile_package

    images = {framework: built_images[name] for framework, name in PIPELINE_IMAGES.items()}
    output = tmp_path_factory.mktemp("package")
    package = compile_package(load_spec(default_spec_path()), output, images=images)
    return {
        p.framework: next(yaml.safe_load_all((output / p.file).read_text()))
        for p in package.pipelines
    }


def executors(ir: dict) -> dict[str, dict]:
    spec = ir.get("pipelineSpec", ir)
    return {name: e["container"] for name, e in spec["deploymentSpec"]["executors"].items()}


def named_imports(container_spec: dict) -> set[tuple[str, str]]:
    """(module, attribute) pairs a step needs: `python -m` modules (as arguments or inside a
    `sh -ec` program), TFX executor classes, and every import in a lightweight component's
    source."""
    argv = [*container_spec.get("command", []), *container_spec.get("args", [])]
    needed = set()
    for flag, value in itertools.pairwise(argv):
        if flag == "-m":
            needed.add((value, ""))
        if flag == "--executor_class_path":
            module, _, attribute = value.rpartition(".")
            needed.add((module, attribute))
    for text in argv:
        needed |= {(module, "") for module in re.findall(r"\bpython3? -m ([\w.]+)", text)}
        if "def " not in text or "import" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                needed |= {(node.module, alias.name) for alias in node.names if alias.name != "*"}
            elif isinstance(node, ast.Import):
                needed |= {(alias.name, "") for alias in node.names}
    return needed


def programs(container_spec: dict) -> set[str]:
    """The executables the step starts: its command, and a `sh -ec` program's `python3 -m`."""
    command = container_spec.get("command", [])
    found = {command[0]} if command else set()
    for text in command:
        found |= set(re.findall(r"\b(python3?) -m ", text))
    return found


def test_every_entry_point_the_ir_names_exists_in_its_image(compiled_package) -> None:
    for framework, ir in compiled_package.items():
        steps = executors(ir)
        images = {spec["image"] for spec in steps.values()}
        assert len(images) == 1, f"{framework}: one image for every step, got {images}"
        needed = set().union(*(named_imports(spec) for spec in steps.values()))
        assert ("kfp.dsl.executor_main", "") in needed or any(
            module.startswith("tfx.orchestration") for module, _ in needed
        ), f"{framework}: no executor entry point found in the IR; the parsing tests nothing"
        commands = sorted(set().union(*(programs(spec) for spec in steps.values())))
        with container(images.pop()) as name:
            found = commands_found(name, commands)
            assert len(found) == len(commands), (
                f"{framework}: executables missing from the image: {commands} → {found}"
            )
            checked = run_in(name, ["python", "-c", IMPORT_CHECK, json.dumps(sorted(needed))])
            assert checked.returncode == 0, checked.stderr[-2000:]
            assert json.loads(checked.stdout) == [], f"{framework}: missing in the image"


def _frozen(image: str) -> dict[str, str]:
    with container(image) as name:
        freeze = run_in(name, ["python", "-m", "pip", "freeze", "--all"])
    assert freeze.returncode == 0, freeze.stderr
    packages = {}
    for line in freeze.stdout.splitlines():
        name, _, version = line.partition("==") if "==" in line else line.partition(" @ ")
        packages[canonicalize_name(name)] = version
    return packages


@pytest.mark.parametrize("image", NAMES)
def test_pip_freeze_is_the_lock_subset(built_images, image: str) -> None:
    """Every package the image holds is the lock's pin (its subset's, or installed apart), the
    project itself, or the base's pip/setuptools; and every subset pin is there."""
    frozen = _frozen(built_images[image])
    subset = SUBSETS[image]
    expected = {
        canonicalize_name(line.partition("==")[0]): line.partition("==")[2]
        for line in subset_path(image).read_text().splitlines()
        if line and not line.startswith("#")
    }
    locked = lock_pins()
    expected |= {
        canonicalize_name(name): locked[canonicalize_name(name)].partition("==")[2]
        for name in subset.apart
    }
    assert frozen.pop("pip") == PIP_PIN
    if subset.extra:
        assert frozen.pop("tandem", "").startswith("file://"), (
            "the project is installed from source"
        )
    extras = {name: version for name, version in frozen.items() if name not in expected}
    assert set(extras) <= BASE_PACKAGES, f"{image}: packages outside the lock subset: {extras}"
    differing = {
        name: (frozen.get(name), version)
        for name, version in expected.items()
        if frozen.get(name) != version
    }
    assert differing == {}, f"{image}: (image, lock) versions differ"


@pytest.mark.parametrize("image", NAMES)
def test_no_build_tool_is_left_and_the_user_is_not_root(built_images, image: str) -> None:
    reference = built_images[image]
    config = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", reference],
        capture_output=True,
        text=True,
        check=True,
    )
    assert config.stdout.strip() == IMAGE_USER
    with container(reference) as name:
        identity = run_in(name, ["id", "-u"])
        tools = commands_found(name, list(BUILD_TOOLS))
        packages = run_in(name, ["dpkg-query", "-W", "-f", "${Package}\\n"])
    assert identity.stdout.strip() == IMAGE_USER.partition(":")[0]
    assert tools == [], f"{image}: build tools in the image"
    assert packages.returncode == 0 and "libc6" in packages.stdout.split()
    assert [p for p in packages.stdout.split() if BUILD_PACKAGE.match(p)] == []


def test_a_second_make_images_changes_nothing(built_images) -> None:
    """Nothing changed since the session's build: every image is reported unchanged, with its
    size, and keeps its id."""
    before = json.loads(SUMMARY.read_text())
    rerun = subprocess.run(
        [sys.executable, "-m", "tandem.deploy.local_images"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert rerun.returncode == 0, rerun.stderr
    after = json.loads(SUMMARY.read_text())
    for image in after["images"]:
        assert not image["built"] and f"{image['reference']} unchanged" in rerun.stdout
        assert re.search(rf"{re.escape(image['reference'])}\s+\d+ MB", rerun.stdout)
    assert [i["image_id"] for i in after["images"]] == [i["image_id"] for i in before["images"]]
    assert set(built_images.values()) == {i["reference"] for i in after["images"]}


def test_the_runs_folder_is_writable_by_the_image_user(built_images, tmp_path: Path) -> None:
    """A PVC mounted with fsGroup 10001 is writable by the steps' user; a folder owned by root is
    not (so the smoke runs' mounts are set up as a cluster's are, not by running as root)."""
    shared, private = tmp_path / "shared", tmp_path / "private"
    for folder in (shared, private):
        folder.mkdir()
        folder.chmod(0o755)
    make_writable(shared)
    touch = ["sh", "-c", "touch /mnt/shared/ok && touch /mnt/private/no"]
    with container(built_images["torch"]) as name:
        result = run_in(name, touch, volumes={shared: "/mnt/shared", private: "/mnt/private"})
    assert (shared / "ok").exists()
    assert result.returncode != 0 and not (private / "no").exists()
