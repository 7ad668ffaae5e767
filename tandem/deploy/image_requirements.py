"""The lock subsets the runtime images install: `images/<image>-requirements.txt` holds
requirements/lock.txt's pins for the dependency closure of `tandem[<extra>]`, walked through the
installed packages' metadata (the project environment is the lock, installed).

`make lock` rewrites them (`python -m tandem.deploy.image_requirements`); a test fails when they
drift from the lock.
"""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
LOCK = ROOT / "requirements" / "lock.txt"
# image → (the extra it installs, lock packages it installs separately)
SUBSETS = {"tfx": ("tfx", ()), "torch": ("torch", ("torch",))}
SUBSET_HEADER = (
    "# Generated from requirements/lock.txt: the dependency closure of tandem[{extra}]{apart}.\n"
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


def closure(extra: str) -> set[str]:
    """Canonical names of everything `tandem[extra]` needs, on this platform and Python."""
    needed: dict[str, set[str]] = {}
    todo = [("tandem", {extra})]
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
    return set(needed)


def subset_text(image: str) -> str:
    extra, apart = SUBSETS[image]
    pins = lock_pins()
    names = closure(extra) - {canonicalize_name(name) for name in apart}
    missing = sorted(names - set(pins))
    if missing:
        raise AssertionError(f"tandem[{extra}] needs packages lock.txt lacks: {missing}")
    lines = sorted((pins[name] for name in names), key=str.lower)
    note = f", except {', '.join(apart)} (installed apart)" if apart else ""
    return SUBSET_HEADER.format(extra=extra, apart=note) + "\n".join(lines) + "\n"


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
