"""The two frameworks tandem compares, and every name that follows from one.

A framework's name is the value of the MLflow tag `tandem.framework`, the `--framework` choice,
the predictor adapter's key and its TensorBoard folder; from it follow the pipeline name, the local
output folder, the registered model name, the runtime image and the packages its runs report.
Everything else asks this module instead of spelling them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.common.errors import TandemError


@dataclass(frozen=True)
class Framework:
    name: str
    label: str  # how a person reads it: plots, the report, the CLI
    colour: str  # its colour in the report's plots (Okabe-Ito: safe for colour-blind readers)
    orchestrator_dir: str  # its pipeline's local outputs: <output dir>/<orchestrator_dir>/<spec>/
    pipeline_suffix: str  # tandem-<spec>-<suffix>
    image_repository: str  # the runtime image images/ builds
    serving_packages: tuple[str, ...]  # what a served model of it needs besides tandem's own
    run_packages: tuple[str, ...]  # the library versions its training runs record

    def pipeline_name(self, spec_name: str) -> str:
        return f"tandem-{spec_name}-{self.pipeline_suffix}"

    def registered_model_name(self, spec_name: str) -> str:
        return f"{spec_name}-{self.name}"

    def local_root(self, output_dir: Path, spec_name: str) -> Path:
        return (Path(output_dir) / self.orchestrator_dir / spec_name).resolve()

    def image(self, tag: str) -> str:
        return f"{self.image_repository}:{tag}"


TENSORFLOW = Framework(
    name="tensorflow",
    label="TensorFlow",
    colour="#E69F00",
    orchestrator_dir="tfx",
    pipeline_suffix="tfx",
    image_repository="tandem-tfx",
    # tensorflow-text: the in-graph tokenizer's ops, loaded before a text model's SavedModel.
    serving_packages=("tensorflow", "tensorflow-text"),
    run_packages=("tensorflow", "keras", "tfx", "tensorflow-transform", "apache-beam"),
)
PYTORCH = Framework(
    name="pytorch",
    label="PyTorch",
    colour="#0072B2",
    orchestrator_dir="kfp",
    pipeline_suffix="pytorch",
    image_repository="tandem-torch",
    # tokenizers: the wrapper's tokenizer for a text model.
    serving_packages=("torch", "tokenizers"),
    run_packages=("torch", "lightning", "torchx-nightly", "kfp"),
)
FRAMEWORKS: tuple[Framework, ...] = (TENSORFLOW, PYTORCH)
NAMES: tuple[str, ...] = tuple(framework.name for framework in FRAMEWORKS)


def by_name(name: str) -> Framework:
    """The framework called `name`; TandemError naming the choices otherwise."""
    for candidate in FRAMEWORKS:
        if candidate.name == name:
            return candidate
    raise TandemError(f"unknown framework {name!r}: expected one of {list(NAMES)}")
