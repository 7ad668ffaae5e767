"""The Keras network as the shared architecture summary (`components.common.layer_summary`)."""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np

from components.common.frameworks import TENSORFLOW
from components.common.layer_summary import UNKNOWN, Layer, output_shape, render
from components.spec import TrainingSpec


def _output(layer: keras.layers.Layer) -> str:
    """The output shape a functional graph recorded; unknown inside a subclassed model."""
    try:
        return output_shape(tuple(layer.output.shape))
    except (AttributeError, ValueError):
        return UNKNOWN


def layers(model: keras.Model, prefix: str = "") -> Iterator[Layer]:
    """Every layer but the input layers, nested models flattened into their layers."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        name = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model):
            yield from layers(layer, f"{name}/")
            continue
        count = int(sum(np.prod(weight.shape) for weight in layer.trainable_weights))
        yield Layer(name, type(layer).__name__, _output(layer), count)


def summary(model: keras.Model, training: TrainingSpec) -> str:
    return render(TENSORFLOW.label, training.model.describe(), layers(model))
