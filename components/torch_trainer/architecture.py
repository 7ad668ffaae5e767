"""The torch network as the shared architecture summary (`components.common.layer_summary`).

A row per module that holds parameters of its own or has no children (containers are
flattened); output shapes come from forward hooks on one probe batch (eval mode, no gradients),
so a module its parent bypasses (nn.MultiheadAttention's out_proj) shows `-`.
"""

from __future__ import annotations

import torch
from torch import nn

from components.common.architectures import NetworkInput
from components.common.custom_models import probe_batch
from components.common.frameworks import PYTORCH
from components.common.layer_summary import UNKNOWN, Layer, output_shape, render
from components.spec import TrainingSpec


def _listed(network: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (name or type(module).__name__, module)
        for name, module in network.named_modules()
        if not list(module.children()) or list(module.parameters(recurse=False))
    ]


def _first_tensor(output) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def layers(network: nn.Module, network_input: NetworkInput) -> list[Layer]:
    listed = _listed(network)
    shapes: dict[str, str] = {}

    def recorder(name: str):
        def hook(module, inputs, output) -> None:
            tensor = _first_tensor(output)
            shapes[name] = UNKNOWN if tensor is None else output_shape(tuple(tensor.shape))

        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in listed]
    was_training = network.training
    try:
        network.eval()
        with torch.no_grad():
            network(torch.from_numpy(probe_batch(network_input)))
    finally:
        network.train(was_training)
        for handle in handles:
            handle.remove()
    return [
        Layer(
            name,
            type(module).__name__,
            shapes.get(name, UNKNOWN),
            sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad),
        )
        for name, module in listed
    ]


def summary(network: nn.Module, network_input: NetworkInput, training: TrainingSpec) -> str:
    return render(PYTORCH.label, training.model.describe(), layers(network, network_input))
