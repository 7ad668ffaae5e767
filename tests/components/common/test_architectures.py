"""Each model family has the same trainable parameter count in Keras and in torch: the count
`architectures.parameter_count` states, at two sizes."""

from __future__ import annotations

import pytest

from components.common.architectures import parameter_count
from components.spec import TrainingSpec

FAMILIES = {
    "mlp": {"hidden_sizes": [16, 8]},
    "resnet": {"model": {"family": "resnet", "params": {"d_main": 12, "d_hidden": 20}}},
    "ft_transformer": {
        "model": {"family": "ft_transformer", "params": {"d_token": 8, "n_heads": 2, "d_ffn": 12}}
    },
}
SIZES = [(9, 3), (14, 5)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize(("n_inputs", "n_classes"), SIZES)
def test_both_frameworks_build_the_stated_count(family, n_inputs, n_classes):
    from components.tf_trainer.model import build_model, trainable_parameter_count
    from components.torch_trainer.model import Classifier

    training = TrainingSpec.model_validate(FAMILIES[family])
    keras_count = trainable_parameter_count(build_model(training, n_inputs, n_classes))
    torch_count = Classifier.from_spec(training, n_inputs, n_classes).parameter_count()
    assert keras_count == torch_count == parameter_count(training, n_inputs, n_classes)


def test_the_penguins_mlp_count_is_the_known_one():
    training = TrainingSpec.model_validate({"hidden_sizes": [16, 8]})
    assert parameter_count(training, 9, 3) == 323
