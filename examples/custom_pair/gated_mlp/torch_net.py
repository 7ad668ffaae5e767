"""The gated MLP in torch: `build(n_inputs, n_outputs, width=32, dropout=0.0)`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class GatedMLP(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, width: int, dropout: float):
        super().__init__()
        self.gate = nn.Linear(n_inputs, width)
        self.value = nn.Linear(n_inputs, width)
        self.dropout = nn.Dropout(dropout)
        self.logits = nn.Linear(width, n_outputs)
        # tandem trains the module as built: the initialisation is the builder's. Keras' Dense
        # defaults, stated here (torch's own are Kaiming-uniform weights and non-zero biases).
        for layer in (self.gate, self.value, self.logits):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = functional.gelu(self.gate(x)) * self.value(x)
        return self.logits(self.dropout(hidden))


def build(n_inputs: int, n_outputs: int, width: int = 32, dropout: float = 0.0) -> nn.Module:
    """float32 (batch, n_inputs) → logits (batch, n_outputs)."""
    return GatedMLP(n_inputs, n_outputs, width, dropout)
