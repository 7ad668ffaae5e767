"""Push a blessed model into a versioned serving directory.

The layout is `<serving_root>/<registered model name>/<registry version>/`, so a server that
watches `<serving_root>/<name>` (TF Serving style) picks the highest version, and the directory
names the same version the MLflow registry holds. A version is written once: the copy goes to a
hidden sibling first and is renamed into place, so a server never sees half a model.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def serving_destination(serving_root: Path, registered_model: str, version: str) -> Path:
    return Path(serving_root) / registered_model / version


def push_to_serving(
    model_dir: Path, serving_root: Path, registered_model: str, version: str
) -> Path:
    """Copy model_dir to its versioned serving directory; returns it. An existing version is
    never overwritten (FileExistsError)."""
    if not version:
        raise ValueError("a pushed model needs its registry version")
    destination = serving_destination(serving_root, registered_model, version)
    if destination.exists():
        raise FileExistsError(f"{destination} exists: a served version is never overwritten")
    staging = destination.with_name(f".{version}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    staging.rename(destination)
    return destination
