"""The user's Keras network of a custom pair, checked before anything trains.

`custom_network` calls the spec's TensorFlow builder (`components.common.custom_models` states the
contract) and checks what it returns: a `keras.Model` that maps a probe batch of the input
(`custom_models.probe_batch`: float32 [PROBE_ROWS, *row shape], or int64 token ids) to
(PROBE_ROWS, n_outputs) and has trainable weights. The returned model takes a plain tensor;
`model.build_model` calls it on its `{"inputs": ...}` input like any family's layers. The probe
is called with `training=False`, so no dropout draws from the seeded random state.
"""

from __future__ import annotations

import keras

from components.common.architectures import NetworkInput
from components.common.custom_models import checked_network
from components.common.frameworks import TENSORFLOW
from components.spec import CustomModel

FRAMEWORK = TENSORFLOW.name


def _probe(network: keras.Model, batch) -> tuple | None:
    shape = getattr(network(batch, training=False), "shape", None)
    return None if shape is None else tuple(shape)


def custom_network(model: CustomModel, network_input: NetworkInput, n_outputs: int) -> keras.Model:
    """The checked model `model.tensorflow` builds; a TandemError names what is wrong."""
    return checked_network(
        FRAMEWORK,
        model.tensorflow,
        network_input,
        n_outputs,
        model.params,
        kind=keras.Model,
        kind_name="keras.Model",
        probe=_probe,
        trainable=lambda network: bool(network.trainable_weights),
    )
