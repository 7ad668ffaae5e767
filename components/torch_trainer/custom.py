"""The user's torch network of a custom pair, checked before anything trains.

`custom_network` calls the spec's PyTorch builder (`components.common.custom_models` states the
contract) and checks what it returns: an `nn.Module` that maps a probe batch of the input
(`custom_models.probe_batch`: float32 [PROBE_ROWS, *row shape], or int64 token ids) to
(PROBE_ROWS, n_outputs) and has parameters that require gradients. The
module is trained as returned: its builder owns its initialisation (`networks.initialise` is for
the built-in families). The probe runs in eval mode without gradients (no dropout draws from the
seeded random state, no batch-norm statistics move) and materialises lazy modules.
"""

from __future__ import annotations

import torch
from torch import nn

from components.common.architectures import NetworkInput
from components.common.custom_models import checked_network
from components.common.frameworks import PYTORCH
from components.spec import CustomModel

FRAMEWORK = PYTORCH.name


def _probe(network: nn.Module, batch) -> tuple | None:
    """In eval mode without gradients, the module's train/eval mode restored after."""
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            outputs = network(torch.from_numpy(batch))
    finally:
        network.train(was_training)
    return tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else None


def custom_network(model: CustomModel, network_input: NetworkInput, n_outputs: int) -> nn.Module:
    """The checked module `model.pytorch` builds; a TandemError names what is wrong."""
    return checked_network(
        FRAMEWORK,
        model.pytorch,
        network_input,
        n_outputs,
        model.params,
        kind=nn.Module,
        kind_name="torch.nn.Module",
        probe=_probe,
        trainable=lambda network: any(p.requires_grad for p in network.parameters()),
    )
