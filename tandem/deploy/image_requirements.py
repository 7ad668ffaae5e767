"""The lock subsets the images install: `images/<image>-requirements.txt` holds
requirements/lock.txt's pins for the dependency closure of the image's roots (`tandem[<extra>]`
for the pipeline images, the server's packages for the MLflow image), walked through the
installed packages' metadata (the project environment is the lock, installed).

`make lock` rewrites them (`python -m tandem.deploy.image_requirements`); a test fails when they
drift from the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
LOCK = ROOT / "requirements" / "lock.txt"


@dataclass(frozen=True)
class Subset:
    """What an image installs from the lock: the closure of `roots`, less `apart` (packages the
    Dockerfile installs on their own); `extra` is the tandem extra the image installs, if any."""

    roots: tuple[str, ...]
    apart: tuple[str, ...] = ()
    extra: str | None = None


SUBSETS = {
    "tfx": Subset(("tandem[tfx]",), extra="tfx"),
    "torch": Subset(("tandem[torch]",), apart=("torch",), extra="torch"),
    # `mlflow server` on PostgreSQL (psycopg 3) with S3 artifacts (boto3): the [server] extra.
    "mlflow": Subset(("mlflow", "psycopg[binary]", "boto3")),
}
SUBSET_HEADER = (
    "# Generated from requirements/lock.txt: the dependency closure of {roots}{apart}.\n"
    "# Do not edit; regenerate with `make lock`.\n"
)


def lock_pins(text: str | None = None) -> dict[str, str]:
    """canonical name → the lock line (`Name==version`)."""
    text = LOCK.read_text() if text is None else text
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, _ = line.partition("==")
            pins[canonicalize_name(name)] = line
    return pins


def closure(roots: tuple[str, ...]) -> set[str]:
    """Canonical names of everything `roots` need (the roots included, tandem itself not), on
    this platform and Python."""
    needed: dict[str, set[str]] = {}
    todo = []
    for text in roots:
        root = Requirement(text)
        needed[canonicalize_name(root.name)] = set(root.extras)
        todo.append((root.name, set(root.extras)))
    while todo:
        name, extras = todo.pop()
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            key = canonicalize_name(requirement.name)
            wanted = set(requirement.extras)
            if key in needed and wanted <= needed[key]:
                continue
            needed[key] = needed.get(key, set()) | wanted
            todo.append((requirement.name, needed[key]))
    return set(needed) - {"tandem"}


def subset_text(image: str) -> str:
    subset = SUBSETS[image]
    pins = lock_pins()
    names = closure(subset.roots) - {canonicalize_name(name) for name in subset.apart}
    missing = sorted(names - set(pins))
    if missing:
        raise AssertionError(f"{', '.join(subset.roots)} need packages lock.txt lacks: {missing}")
    lines = sorted((pins[name] for name in names), key=str.lower)
    note = f", except {', '.join(subset.apart)} (installed apart)" if subset.apart else ""
    return SUBSET_HEADER.format(roots=", ".join(subset.roots), apart=note) + "\n".join(lines) + "\n"


def subset_path(image: str) -> Path:
    return IMAGES / f"{image}-requirements.txt"


def regenerate_subsets() -> list[Path]:
    written = []
    for image in SUBSETS:
        subset_path(image).write_text(subset_text(image))
        written.append(subset_path(image))
    return written


if __name__ == "__main__":
    for path in regenerate_subsets():
        print(f"wrote {path}")
