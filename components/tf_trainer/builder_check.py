"""`python -m components.tf_trainer.builder_check --spec S`: build the spec's Keras network as
the trainer does (for a custom pair: call and check the user's builder) and print its trainable
parameter count; `tandem run` runs it before training (see `components.common.custom_models`)."""

from __future__ import annotations

import sys

from components.common.architectures import NetworkInput
from components.common.custom_models import check_main
from components.common.frameworks import TENSORFLOW
from components.spec import Spec
from components.tf_trainer.model import build_model, trainable_parameter_count


def count_parameters(spec: Spec) -> int:
    network_input = NetworkInput.from_spec(spec.dataset)
    model = build_model(spec.training, network_input, spec.dataset.n_outputs)
    return trainable_parameter_count(model)


if __name__ == "__main__":
    sys.exit(check_main(None, TENSORFLOW.name, count_parameters))
