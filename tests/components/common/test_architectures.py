"""Each model family has the same trainable parameter count in Keras and in torch: the count
`architectures.parameter_count` states, at two sizes."""

from __future__ import annotations

import pytest

from components.common.architectures import parameter_count
from components.spec import TrainingSpec
from tests.components.model_families import SIZE_IDS, SIZES, training_spec


@pytest.mark.parametrize(("model", "hidden_sizes", "n_inputs", "n_classes"), SIZES, ids=SIZE_IDS)
def test_both_frameworks_build_the_stated_count(model, hidden_sizes, n_inputs, n_classes):
    from components.tf_trainer.model import build_model, trainable_parameter_count
    from components.torch_trainer.model import Network

    training = training_spec(model, hidden_sizes)
    keras_count = trainable_parameter_count(build_model(training, n_inputs, n_classes))
    torch_count = Network(training, n_inputs, n_classes).parameter_count()
    assert keras_count == torch_count == parameter_count(training, n_inputs, n_classes)


def test_the_penguins_mlp_count_is_the_known_one():
    training = TrainingSpec.model_validate({"hidden_sizes": [16, 8]})
    assert parameter_count(training, 9, 3) == 323
