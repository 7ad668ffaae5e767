"""The user's torch network of a custom pair, checked before anything trains.

`custom_network` calls the spec's PyTorch builder (`components.common.custom_models` states the
contract) and checks what it returns: an `nn.Module` that maps a probe batch (PROBE_ROWS,
n_inputs) float32 to (PROBE_ROWS, n_outputs) and has parameters that require gradients. The
module is trained as returned: its builder owns its initialisation (`networks.initialise` is for
the built-in families). The probe runs in eval mode without gradients (no dropout draws from the
seeded random state, no batch-norm statistics move) and materialises lazy modules.
"""

from __future__ import annotations

import torch
from torch import nn

from components.common.custom_models import (
    builder_error,
    call_builder,
    check_probe_output,
    no_trainable_parameters,
    one_line,
    probe_batch,
)
from components.common.frameworks import PYTORCH
from components.spec import CustomModel

FRAMEWORK = PYTORCH.name


def custom_network(model: CustomModel, n_inputs: int, n_outputs: int) -> nn.Module:
    """The checked module `model.pytorch` builds; a TandemError names what is wrong."""
    path = model.pytorch
    network = call_builder(FRAMEWORK, path, n_inputs, n_outputs, model.params)
    if not isinstance(network, nn.Module):
        raise builder_error(
            FRAMEWORK, path, f"returned a {type(network).__name__}, expected a torch.nn.Module"
        )
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            outputs = network(torch.from_numpy(probe_batch(n_inputs)))
    except Exception as exc:
        raise builder_error(
            FRAMEWORK, path, f"the network fails on a probe batch: {one_line(exc)}"
        ) from None
    finally:
        network.train(was_training)
    shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else None
    check_probe_output(FRAMEWORK, path, shape, n_inputs, n_outputs)
    if not any(parameter.requires_grad for parameter in network.parameters()):
        raise no_trainable_parameters(FRAMEWORK, path)
    return network
