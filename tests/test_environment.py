"""The one environment holds both frameworks and the TFX stack, on a glibc they load on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _glibc(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split()[1].split("."))


def test_interpreter_and_its_children_run_on_a_glibc_tfx_loads_on():
    assert _glibc(os.confstr("CS_GNU_LIBC_VERSION")) >= (2, 39)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.confstr('CS_GNU_LIBC_VERSION'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _glibc(child.stdout.strip()) >= (2, 39)


@pytest.mark.slow
def test_tfx_stack_and_torch_import_together():
    code = (
        "import ml_metadata, tensorflow_data_validation, tensorflow_transform, tfx, torch, "
        "lightning, torchx, kfp, mlflow, apache_beam; "
        "from ml_metadata.metadata_store import metadata_store; "
        "print(tfx.__version__, torch.__version__)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-2000:]
    tfx_version, torch_version = completed.stdout.split()[-2:]
    assert tfx_version == "1.21.0"
    assert torch_version.startswith("2.13.0")
