"""The user's Keras network of a custom pair, checked before anything trains.

`custom_network` calls the spec's TensorFlow builder (`components.common.custom_models` states the
contract) and checks what it returns: a `keras.Model` that maps a probe batch
(PROBE_ROWS, n_inputs) float32 to (PROBE_ROWS, n_outputs) and has trainable weights. The
returned model takes a plain tensor; `model.build_model` calls it on its `{"inputs": ...}` input
like any family's layers. The probe is called with `training=False`, so no dropout draws from
the seeded random state.
"""

from __future__ import annotations

import keras

from components.common.custom_models import (
    builder_error,
    call_builder,
    check_probe_output,
    no_trainable_parameters,
    one_line,
    probe_batch,
)
from components.common.frameworks import TENSORFLOW
from components.spec import CustomModel

FRAMEWORK = TENSORFLOW.name


def custom_network(model: CustomModel, n_inputs: int, n_outputs: int) -> keras.Model:
    """The checked model `model.tensorflow` builds; a TandemError names what is wrong."""
    path = model.tensorflow
    network = call_builder(FRAMEWORK, path, n_inputs, n_outputs, model.params)
    if not isinstance(network, keras.Model):
        raise builder_error(
            FRAMEWORK, path, f"returned a {type(network).__name__}, expected a keras.Model"
        )
    try:
        outputs = network(probe_batch(n_inputs), training=False)
    except Exception as exc:
        raise builder_error(
            FRAMEWORK, path, f"the network fails on a probe batch: {one_line(exc)}"
        ) from None
    shape = getattr(outputs, "shape", None)
    check_probe_output(
        FRAMEWORK, path, None if shape is None else tuple(shape), n_inputs, n_outputs
    )
    if not network.trainable_weights:
        raise no_trainable_parameters(FRAMEWORK, path)
    return network
