"""`python -m components.torch_trainer.builder_check --spec S`: build the spec's torch network as
the trainer does (for a custom pair: call and check the user's builder) and print its trainable
parameter count; `tandem run` runs it before training (see `components.common.custom_models`)."""

from __future__ import annotations

import sys

from components.common.architectures import NetworkInput
from components.common.custom_models import check_main
from components.common.frameworks import PYTORCH
from components.spec import Spec
from components.torch_trainer.model import Network


def count_parameters(spec: Spec) -> int:
    network_input = NetworkInput.from_spec(spec.dataset)
    network = Network(spec.training, network_input, spec.dataset.n_outputs)
    return network.parameter_count()


if __name__ == "__main__":
    sys.exit(check_main(None, PYTORCH.name, count_parameters))
