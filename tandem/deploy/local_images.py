"""`make images`: build the pipeline images and the MLflow server image on this machine.

There is no Docker engine and no registry here, so: buildah builds the Dockerfiles under
images/ (chroot isolation, the one that runs on this machine kind) on a base assembled from
Debian's packages (scripts/build_base_image.sh, a stand-in for the pinned python:3.11-slim-trixie),
with the host's pip configuration passed as build secrets (tandem/deploy/pip_relay.py). Images are
tagged `localhost/tandem-<name>:<git sha>` and labelled with a fingerprint of everything they are
built from (Dockerfile, the files it copies, the base, build args): when that has not changed, the
existing image only gets the new tag. Build output goes to .tandem-images/logs/; a summary of the
last call goes to .tandem-images/images.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tandem.deploy.image_requirements import IMAGES, ROOT
from tandem.deploy.pip_relay import BuildPipConfig, host_pip_settings, serve_local_indexes

STATE_DIR = ROOT / ".tandem-images"
SUMMARY = STATE_DIR / "images.json"
NAMES = ("tfx", "torch", "mlflow")
REPOSITORY = "localhost/tandem-{name}"
INPUTS_LABEL = "tandem.inputs"
PARALLEL_BUILDS = 2
# buildah fails a listing that races another build's image removal: one listing or removal at a
# time.
_STORAGE = threading.RLock()
# torch's variant wheel comes from pip's configured indexes here, not PyPI's or PyTorch's index.
BUILD_ARGS = {"torch": {"TORCH_INDEX_URL": ""}}
# What the .dockerignore files leave out of the context.
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
SIZE_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


class ImageBuildError(RuntimeError):
    """A step of `make images` failed; the message names it and its log."""


@dataclass(frozen=True)
class BuiltImage:
    name: str
    reference: str
    image_id: str
    size_bytes: int
    seconds: float
    built: bool


def dockerfile(name: str) -> Path:
    return IMAGES / f"{name}.Dockerfile"


def copied_files(name: str) -> list[Path]:
    """The context files the Dockerfile's COPY instructions send (COPY --from excluded)."""
    files: set[Path] = set()
    for line in dockerfile(name).read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        arguments = [word for word in words[1:] if not word.startswith("--")]
        if any(word.startswith("--from") for word in words[1:]):
            continue
        for source in arguments[:-1]:
            path = ROOT / source
            found = path.rglob("*") if path.is_dir() else [path]
            files |= {f for f in found if f.is_file() and not SKIPPED_PARTS & set(f.parts)}
    return sorted(files)


def inputs_fingerprint(name: str, base_id: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{base_id}\n{sorted(BUILD_ARGS.get(name, {}).items())}\n".encode())
    for path in [dockerfile(name), *copied_files(name)]:
        digest.update(f"{path.relative_to(ROOT)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_tag(name: str) -> str:
    """The commit, with `-dirty` when the image's inputs differ from it."""
    sha = _run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT).strip()
    inputs = [str(dockerfile(name).relative_to(ROOT))]
    inputs += sorted({str(p.relative_to(ROOT)).split("/")[0] for p in copied_files(name)})
    changed = _run(["git", "status", "--porcelain", "--", *inputs], cwd=ROOT).strip()
    return f"{sha}-dirty" if changed else sha


def _run(argv: list[str], **kwargs) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, **kwargs).stdout


def _logged(argv: list[str], log: Path, what: str) -> None:
    with log.open("a") as sink:
        sink.write(f"$ {shlex.join(argv)}\n")
        sink.flush()
        code = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if code != 0:
        raise ImageBuildError(f"{what} failed (exit {code}); see {log}")


def list_images(*names: str) -> list[dict]:
    """buildah's image list (full ids), of `names` only when given."""
    with _STORAGE:
        return json.loads(_run(["buildah", "images", "--json", "--no-trunc", *names]) or "[]")


def image_with_inputs(repository: str, fingerprint: str) -> str | None:
    """The id of an image of `repository` built from `fingerprint`, if there is one."""
    for image in list_images():
        names = image.get("names") or []
        if not any(n.startswith(f"{repository}:") for n in names):
            continue
        image_id = image["id"].removeprefix("sha256:")
        labels = json.loads(_run(["buildah", "inspect", "--type", "image", image_id]))
        config_labels = labels.get("OCIv1", {}).get("config", {}).get("Labels") or {}
        if config_labels.get(INPUTS_LABEL) == fingerprint:
            return image_id
    return None


def image_identity(reference: str) -> str:
    argv = ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", reference]
    return _run(argv).strip()


def image_size(reference: str) -> int:
    """Bytes, from buildah's decimal human-readable size ("2.36 GB")."""
    for image in list_images(reference):
        number, unit = image["size"].split()
        return round(float(number) * SIZE_UNITS[unit])
    raise ImageBuildError(f"{reference} is not in buildah's storage")


def remove_superseded(repository: str, keep_id: str) -> None:
    """Images of `repository` other than `keep_id` (older inputs) go; their layers are shared
    cache only if a later build used them."""
    for image in list_images():
        names = image.get("names") or []
        superseded = image["id"].removeprefix("sha256:") != keep_id
        if superseded and any(n.startswith(f"{repository}:") for n in names):
            subprocess.run(["buildah", "rmi", "--force", image["id"]], capture_output=True)


def build_base(log: Path) -> str:
    python = os.environ.get("TANDEM_BASE_PYTHON", "python3.11")
    script = ROOT / "scripts" / "build_base_image.sh"
    with log.open("a") as sink:
        done = subprocess.run(["bash", str(script), python], stdout=subprocess.PIPE, stderr=sink)
    if done.returncode != 0:
        raise ImageBuildError(f"assembling the base failed (exit {done.returncode}); see {log}")
    return done.stdout.decode().strip().splitlines()[-1]


def build_image(name: str, base: str, logs: Path, pip_config: BuildPipConfig) -> BuiltImage:
    repository = REPOSITORY.format(name=name)
    fingerprint = inputs_fingerprint(name, image_identity(base))
    reference = f"{repository}:{git_tag(name)}"
    started = time.monotonic()
    with _STORAGE:
        existing = image_with_inputs(repository, fingerprint)
        if existing is not None:
            _run(["buildah", "tag", existing, reference])
    if existing is not None:
        return BuiltImage(name, reference, existing, image_size(reference), 0.0, built=False)
    log = logs / f"{name}.log"
    log.write_text("")
    revision = _run(["git", "rev-parse", "HEAD"], cwd=ROOT).strip()
    build_args = {"BASE_IMAGE": base, "TANDEM_GIT_REVISION": revision, **BUILD_ARGS.get(name, {})}
    with tempfile.TemporaryDirectory() as scratch:
        pip_conf = Path(scratch) / "pip.conf"
        pip_conf.write_text(pip_config.text)
        secrets = [f"id=pip.conf,src={pip_conf}"]
        if pip_config.ca_bundle is not None:
            secrets.append(f"id=pip-ca.crt,src={pip_config.ca_bundle}")
        argv = ["buildah", "bud", "--isolation", "chroot", "--layers", "--pull=never"]
        argv += ["--file", str(dockerfile(name)), "--tag", reference]
        argv += ["--label", f"{INPUTS_LABEL}={fingerprint}"]
        for key, value in build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        for secret in secrets:
            argv += ["--secret", secret]
        _logged([*argv, str(ROOT)], log, f"building {reference}")
    image_id = image_identity(reference)
    with _STORAGE:
        remove_superseded(repository, image_id)
    seconds = round(time.monotonic() - started, 1)
    return BuiltImage(name, reference, image_id, image_size(reference), seconds, built=True)


def build_all(names: tuple[str, ...] = NAMES) -> list[BuiltImage]:
    if os.geteuid() != 0:
        raise ImageBuildError("make images needs root: mmdebstrap and buildah's chroot isolation")
    logs = STATE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print("images: base (Debian 13 + CPython 3.11) …", flush=True)
    base = build_base(logs / "base.log")
    print(f"images: base {base}", flush=True)

    def build(name: str, pip_config: BuildPipConfig) -> BuiltImage:
        print(f"images: tandem-{name} … (log: {logs / f'{name}.log'})", flush=True)
        result = build_image(name, base, logs, pip_config)
        state = f"built in {result.seconds:.0f} s" if result.built else "unchanged"
        print(f"images: {result.reference} {state}", flush=True)
        return result

    # Two at a time: a build mostly waits on downloads and on writing layers. One loopback server
    # serves the host's local indexes to every build.
    with (
        serve_local_indexes(host_pip_settings()) as pip_config,
        ThreadPoolExecutor(max_workers=PARALLEL_BUILDS) as pool,
    ):
        results = list(pool.map(lambda name: build(name, pip_config), names))
    SUMMARY.write_text(json.dumps({"base": base, "images": [asdict(r) for r in results]}, indent=2))
    return results


def main(argv: list[str]) -> int:
    names = tuple(argv) or NAMES
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        print(f"images: no image {unknown[0]!r}; choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    try:
        results = build_all(names)
    except ImageBuildError as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    width = max(len(r.reference) for r in results)
    for result in results:
        print(f"  {result.reference:<{width}}  {result.size_bytes / 10**6:8.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
