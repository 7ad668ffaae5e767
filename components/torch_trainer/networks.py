"""The spec's model families in torch, layer for layer as `components.spec` describes them.

`build_network` returns raw outputs [batch, n_outputs] (logits, or a regression prediction);
every built-in family has exactly `architectures.parameter_count` trainable parameters and is
initialised by the contract in `components.common.architectures`, set explicitly: torch's own
defaults (Kaiming-uniform weights, non-zero biases) differ from Keras'. A custom pair's network
comes from the user's builder (`custom`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from components.common.architectures import LAYER_NORM_EPSILON
from components.spec import CustomModel, FTTransformerModel, MLPModel, ResNetModel, TrainingSpec
from components.torch_trainer.custom import custom_network


class Residual(nn.Module):
    """x + body(x)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FeatureTokenizer(nn.Module):
    """Each input becomes a token, x[b, i] * weight[i] + bias[i]; the learned [CLS] token is
    appended last: [batch, n_inputs] -> [batch, n_inputs + 1, d_token]."""

    def __init__(self, n_inputs: int, d_token: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_inputs, d_token))
        self.bias = nn.Parameter(torch.empty(n_inputs, d_token))
        self.cls = nn.Parameter(torch.empty(d_token))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.unsqueeze(-1) * self.weight + self.bias
        cls = self.cls.expand(x.shape[0], 1, self.cls.shape[0])
        return torch.cat([tokens, cls], dim=1)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the tokens (dropout on the attention weights)."""

    def __init__(self, d_token: int, n_heads: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(d_token, n_heads, dropout=dropout, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.attention(tokens, tokens, tokens, need_weights=False)[0]


class LastToken(nn.Module):
    """The [CLS] token: [batch, tokens, d] -> [batch, d]."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, -1]


def _layer_norm(width: int) -> nn.LayerNorm:
    return nn.LayerNorm(width, eps=LAYER_NORM_EPSILON)


def _head(width: int, n_outputs: int) -> list[nn.Module]:
    return [_layer_norm(width), nn.ReLU(), nn.Linear(width, n_outputs)]


def _feed_forward(width: int, inner: int, dropout: float, residual_dropout: float) -> Residual:
    """LayerNorm -> linear -> ReLU -> dropout -> linear -> dropout, added to its input."""
    return Residual(
        nn.Sequential(
            _layer_norm(width),
            nn.Linear(width, inner),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(inner, width),
            nn.Dropout(residual_dropout),
        )
    )


def mlp(n_inputs: int, hidden_sizes: list[int], n_outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_inputs
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_outputs))


def resnet(model: ResNetModel, n_inputs: int, n_outputs: int) -> nn.Sequential:
    p = model.params
    blocks = [
        _feed_forward(p.d_main, p.d_hidden, p.dropout, p.residual_dropout)
        for _ in range(p.n_blocks)
    ]
    return nn.Sequential(nn.Linear(n_inputs, p.d_main), *blocks, *_head(p.d_main, n_outputs))


def ft_transformer(model: FTTransformerModel, n_inputs: int, n_outputs: int) -> nn.Sequential:
    p = model.params
    blocks: list[nn.Module] = []
    for _ in range(p.n_blocks):
        attention = nn.Sequential(
            _layer_norm(p.d_token),
            SelfAttention(p.d_token, p.n_heads, p.attention_dropout),
            nn.Dropout(p.residual_dropout),
        )
        feed_forward = _feed_forward(p.d_token, p.d_ffn, p.ffn_dropout, p.residual_dropout)
        blocks += [Residual(attention), feed_forward]
    return nn.Sequential(
        FeatureTokenizer(n_inputs, p.d_token),
        *blocks,
        LastToken(),
        *_head(p.d_token, n_outputs),
    )


@torch.no_grad()
def initialise(network: nn.Module) -> nn.Module:
    """Apply the initialisation contract of `components.common.architectures` in place."""
    for module in network.modules():
        if isinstance(module, nn.Linear):  # also each attention's output projection
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            # Q, K and V are stacked in one (3d, d) matrix: each third is its own (d, d) matrix.
            for projection in module.in_proj_weight.chunk(3):
                nn.init.xavier_uniform_(projection)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, FeatureTokenizer):
            bound = 1 / math.sqrt(module.cls.shape[0])
            for parameter in (module.weight, module.bias, module.cls):
                nn.init.uniform_(parameter, -bound, bound)
    return network


def build_network(training: TrainingSpec, n_inputs: int, n_outputs: int) -> nn.Module:
    """The spec's model family (`training.model`), initialised; it returns logits. A custom
    pair's network is the user's, checked and initialised by its builder."""
    model = training.model
    if isinstance(model, CustomModel):
        return custom_network(model, n_inputs, n_outputs)
    if isinstance(model, MLPModel):
        network = mlp(n_inputs, training.hidden_sizes, n_outputs)
    elif isinstance(model, ResNetModel):
        network = resnet(model, n_inputs, n_outputs)
    else:
        network = ft_transformer(model, n_inputs, n_outputs)
    return initialise(network)
