"""The runtime images' Dockerfiles, checked statically (no Docker engine here, and no hadolint).

Each check is a function returning the problems it finds; every test runs it on the real
Dockerfiles (expecting none) and on a broken variant (expecting the problem), so no check can
pass vacuously. `make lock` regenerates the lock subsets the images install.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from components.common.tracking import GIT_REVISION_ENV
from tandem.deploy.image_requirements import (
    IMAGES,
    ROOT,
    SUBSETS,
    lock_pins,
    subset_path,
    subset_text,
)
from tests.images.dockerfile import (
    arg_defaults,
    copied_sources,
    env_pairs,
    expand,
    instructions,
    pip_installs,
)

DOCKERFILES = {image: IMAGES / f"{image}.Dockerfile" for image in SUBSETS}
SETUP_SCRIPT = ROOT / "scripts" / "setup_env.sh"
# The pip version the project environment is built with; pip itself is not in lock.txt.
PIP_PIN = re.search(r"pip install '(pip==[^']+)'", SETUP_SCRIPT.read_text())[1]
PINNED_BASE = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|ACCESS_KEY|CREDENTIAL|PRIVATE")


def _text(image: str) -> str:
    return DOCKERFILES[image].read_text()


def _lock_line(requirement: str) -> str:
    name = requirement.partition("==")[0].partition("[")[0]
    return lock_pins().get(canonicalize_name(name), f"{name} (not in lock.txt)")


def pin_problems(text: str, extra: str | None, root: Path = ROOT) -> list[str]:
    """Every pip-installed package is lock.txt's pin: requirement files are generated lock
    subsets installed with --no-deps; explicit requirements are `name==version` equal to the
    lock (pip: the project's pip pin); an install that resolves dependencies is constrained by
    a lock subset; the project itself is `.[extra]` with --no-deps (an image without an extra
    installs no project)."""
    parsed = instructions(text)
    sources = copied_sources(parsed, root)
    problems = []
    for install in pip_installs(parsed):
        resolves = "--no-deps" not in install.options
        unconstrained = install.requirement_files or not install.constraint_files
        if resolves and unconstrained and install.requirements != [PIP_PIN]:
            problems.append(f"pip install without --no-deps or a lock constraint: {install}")
        for file in install.requirement_files + install.constraint_files:
            source = sources.get(file)
            if source is None or source.parent != root / "images":
                problems.append(f"{file}: not a lock subset copied from images/")
                continue
            for line in source.read_text().splitlines():
                if line and not line.startswith("#") and _lock_line(line) != line:
                    problems.append(f"{source.name}: {line} != lock.txt {_lock_line(line)}")
        for requirement in install.requirements:
            if requirement.startswith("."):
                if extra is None or requirement != f".[{extra}]" or resolves:
                    problems.append(f"the project must be '.[{extra}]' with --no-deps: {install}")
            elif requirement == PIP_PIN:
                continue
            elif "==" not in requirement:
                problems.append(f"unpinned: {requirement}")
            elif _lock_line(requirement) != requirement:
                problems.append(f"{requirement} != lock.txt {_lock_line(requirement)}")
    if not pip_installs(parsed):
        problems.append("no pip install at all")
    return problems


def base_problems(text: str) -> list[str]:
    """FROM is a pinned tag (a full x.y.z version, optionally with a digest), never latest."""
    parsed = instructions(text)
    variables = arg_defaults(parsed)
    problems = []
    for instruction in parsed:
        if instruction.keyword == "FROM":
            image = expand(instruction.value.split()[0], variables)
            if not PINNED_BASE.match(image) or "latest" in image:
                problems.append(f"FROM {image}: pin a full version tag (and digest), not latest")
    return problems or ([] if any(i.keyword == "FROM" for i in parsed) else ["no FROM"])


def user_problems(text: str) -> list[str]:
    """The image ends as a non-root numeric user (Kubernetes runAsNonRoot checks numbers)."""
    users = [i.value for i in instructions(text) if i.keyword == "USER"]
    if not users:
        return ["no USER: the image runs as root"]
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    if match is None or int(match[1]) == 0:
        return [f"USER {users[-1]}: must be a numeric non-root uid[:gid]"]
    return []


def hygiene_problems(text: str) -> list[str]:
    """No `latest`, no ADD of URLs, nothing secret-looking in ENV or ARG."""
    parsed = instructions(text)
    problems = []
    for instruction in parsed:
        if instruction.keyword == "ADD" and re.search(r"\bhttps?://", instruction.value):
            problems.append(f"ADD of a URL: {instruction.value}")
        if re.search(r":latest\b|\blatest\b", instruction.value):
            problems.append(f"'latest' in {instruction.keyword} {instruction.value}")
    names = [*env_pairs(parsed), *arg_defaults(parsed)]
    problems += [f"secret-looking variable {name}" for name in names if SECRET_NAME.search(name)]
    return problems


def revision_problems(text: str) -> list[str]:
    """The build arg TANDEM_GIT_REVISION becomes the runtime variable MLflow tags read, and is
    declared after the last RUN: it changes with every commit, and a step after it never hits
    buildah's or BuildKit's layer cache (the pip installs would run on every commit)."""
    parsed = instructions(text)
    if GIT_REVISION_ENV not in arg_defaults(parsed):
        return [f"no ARG {GIT_REVISION_ENV}"]
    if env_pairs(parsed).get(GIT_REVISION_ENV) != f"${{{GIT_REVISION_ENV}}}":
        return [f"ENV {GIT_REVISION_ENV} is not set from the build arg"]
    declared = next(
        n
        for n, i in enumerate(parsed)
        if i.keyword == "ARG" and i.value.startswith(GIT_REVISION_ENV)
    )
    if any(i.keyword in ("RUN", "COPY") for i in parsed[declared:]):
        return [f"ARG {GIT_REVISION_ENV} before a RUN or COPY: every commit rebuilds what follows"]
    return []


CHECKS = [pin_problems, base_problems, user_problems, hygiene_problems, revision_problems]
PIPELINE_IMAGES = sorted(name for name, subset in SUBSETS.items() if subset.extra)
# check → (text in the Dockerfile, its broken replacement, the images it applies to or None: all)
BROKEN = {
    "pin_problems": [
        ("pip install --no-deps -r /tmp/", "pip install -r /tmp/", None),
        ('".[<extra>]"', '".[<extra>]" requests', PIPELINE_IMAGES),
        ("pip==26.3", "pip==26.3 && python -m pip install --no-deps pyyaml==5.4", None),
        ("--no-deps --no-build-isolation", "--no-build-isolation", PIPELINE_IMAGES),
        (
            "&& python -m pip check",
            "&& python -m pip install --no-deps . && python -m pip check",
            ["mlflow"],
        ),
    ],
    "base_problems": [("python:3.11.14-slim-trixie", "python:3.11-slim-trixie", None)],
    "user_problems": [
        ("USER 10001:10001", "USER tandem", None),
        ("USER 10001:10001", "USER 0", None),
    ],
    "hygiene_problems": [
        ("USER 10001", "ADD https://example.com/x.tgz /x\nUSER 10001", None),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 MLFLOW_TRACKING_TOKEN=x", None),
        ("3.11.14-slim-trixie", "latest", None),
    ],
    "revision_problems": [
        ("TANDEM_GIT_REVISION=${TANDEM_GIT_REVISION}", "X=1", PIPELINE_IMAGES),
        ("USER 10001:10001", "RUN true\nUSER 10001:10001", PIPELINE_IMAGES),
    ],
}


def checks_for(image: str) -> list:
    """The MLflow server image carries no tandem code, so no revision to tag runs with."""
    return [c for c in CHECKS if c is not revision_problems or SUBSETS[image].extra]


def _check_args(check, text: str, image: str) -> tuple:
    return (text, SUBSETS[image].extra) if check is pin_problems else (text,)


@pytest.mark.parametrize(
    ("image", "check"),
    [(image, check) for image in sorted(DOCKERFILES) for check in checks_for(image)],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_the_dockerfile_passes(check, image: str) -> None:
    assert check(*_check_args(check, _text(image), image)) == []


@pytest.mark.parametrize(
    ("image", "check", "old", "new"),
    [
        (image, check, old, new)
        for check in CHECKS
        for old, new, images in BROKEN[check.__name__]
        for image in images or sorted(DOCKERFILES)
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_each_check_catches_its_problem(check, old: str, new: str, image: str) -> None:
    text = _text(image)
    extra = SUBSETS[image].extra or ""
    old, new = (part.replace("<extra>", extra) for part in (old, new))
    assert old in text, f"{image}.Dockerfile has no {old!r}: the broken variant tests nothing"
    assert check(*_check_args(check, text.replace(old, new), image)) != []


def test_a_subset_pin_that_drifts_from_the_lock_is_caught(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    text = subset_path("tfx").read_text().replace("PyYAML==6.0.4", "PyYAML==6.0.1")
    (tmp_path / "images" / "tfx-requirements.txt").write_text(text)
    problems = pin_problems(_text("tfx"), "tfx", root=tmp_path)
    assert problems == ["tfx-requirements.txt: PyYAML==6.0.1 != lock.txt PyYAML==6.0.4"]


@pytest.mark.parametrize("image", sorted(SUBSETS))
def test_the_lock_subsets_are_the_closure_of_the_extra(image: str) -> None:
    assert subset_path(image).read_text() == subset_text(image), (
        f"{subset_path(image).name} is stale; regenerate it with `make lock` and review the diff"
    )


def test_the_subsets_hold_the_frameworks_and_not_each_other() -> None:
    tfx, torch, server = (subset_path(image).read_text() for image in ("tfx", "torch", "mlflow"))
    assert "\ntfx==" in tfx and "\ntensorflow==" in tfx and "torch" not in tfx.lower()
    assert "\nlightning==" in torch and "\ntorchx-nightly==" in torch
    assert "\ntensorflow==" not in torch and "\ntorch==" not in torch  # torch goes in apart
    assert all(f"\n{name}==" in server for name in ("mlflow", "psycopg-binary", "boto3"))
    assert "\ntensorflow==" not in server and "\nkfp==" not in server


def test_the_default_torch_variant_is_the_locked_wheel() -> None:
    variables = arg_defaults(instructions(_text("torch")))
    locked = lock_pins()["torch"]
    assert f"torch=={variables['TORCH_VERSION']}+{variables['TORCH_VARIANT']}" == locked


def test_all_images_share_one_base() -> None:
    bases = {arg_defaults(instructions(_text(image)))["BASE_IMAGE"] for image in DOCKERFILES}
    assert len(bases) == 1
