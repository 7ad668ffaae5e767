"""Before `tandem run` ingests or trains anything: a custom model pair's builders, checked.

Each chosen framework's builder is built and probed as its trainer builds it
(`components.<trainer>.builder_check`), in a fresh process of this interpreter per framework,
both at once: this process never imports TensorFlow or torch for it, and the check sees what the
pipelines' steps see — the modules on PYTHONPATH (`-P`: not the current directory, which the
TFX Trainer, running inside this process, does not search either). A bad builder stops the run
with its one line; inside the pipelines the same check would surface only after ingest and the
steps before the trainer, the PyTorch one wrapped in kfp.local's and torchrun's reports.
"""

from __future__ import annotations

import json
import subprocess
import sys

from components.common.errors import TandemError
from components.common.frameworks import PYTORCH, TENSORFLOW
from components.spec import CustomModel, LoadedSpec

CHECKS = {
    TENSORFLOW.name: "components.tf_trainer.builder_check",
    PYTORCH.name: "components.torch_trainer.builder_check",
}
ERROR_PREFIX = "error: "


def _failure(loaded: LoadedSpec, framework: str, stderr: str, returncode: int) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    reported = [line for line in lines if line.startswith(ERROR_PREFIX)]
    if reported:
        return reported[-1].removeprefix(ERROR_PREFIX)
    last = lines[-1] if lines else "no output"
    return (
        f"{loaded.path}: training.model.{framework}: checking the builder failed "
        f"(exit code {returncode}): {last}"
    )


def check_custom_pair(loaded: LoadedSpec, frameworks: list[str]) -> dict[str, int]:
    """Each framework's trainable parameter count of a custom pair ({} for a built-in family);
    a TandemError with the first failing builder's one line."""
    if not isinstance(loaded.spec.training.model, CustomModel):
        return {}
    processes = {
        framework: subprocess.Popen(
            [sys.executable, "-P", "-m", CHECKS[framework], "--spec", str(loaded.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for framework in frameworks
    }
    counts, failures = {}, []
    for framework, process in processes.items():
        stdout, stderr = process.communicate()
        if process.returncode == 0:
            counts[framework] = json.loads(stdout.strip().splitlines()[-1])["parameter_count"]
        else:
            failures.append(_failure(loaded, framework, stderr, process.returncode))
    if failures:
        raise TandemError(failures[0])
    return counts
