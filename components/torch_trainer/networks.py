"""The spec's model families in torch, layer for layer as `components.spec` describes them.

`build_network` maps a batch of its `NetworkInput` (float32 [batch, width] or [batch, *shape],
int64 token ids [batch, max_length]) to raw outputs [batch, n_outputs] (logits, or a regression
prediction);
every built-in family has exactly `architectures.parameter_count` trainable parameters and is
initialised by the contract in `components.common.architectures`, set explicitly: torch's own
defaults (Kaiming-uniform weights, non-zero biases) differ from Keras'. A custom pair's network
comes from the user's builder (`custom`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from components.common.architectures import (
    LAYER_NORM_EPSILON,
    NetworkInput,
    check_input,
)
from components.common.text_tokens import PAD_ID
from components.spec import (
    CNNModel,
    CustomModel,
    FTTransformerModel,
    FTTransformerParams,
    MLPModel,
    ResNetModel,
    TrainingSpec,
    TransformerModel,
    TransformerParams,
)
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


class TokenEmbedding(nn.Module):
    """Token ids [batch, max_length] -> token embedding plus learned position embedding
    [batch, max_length, d_model]."""

    def __init__(self, vocabulary_size: int, max_length: int, d_model: int):
        super().__init__()
        self.token = nn.Parameter(torch.empty(vocabulary_size, d_model))
        self.position = nn.Parameter(torch.empty(max_length, d_model))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(ids, self.token) + self.position


class SelfAttention(nn.Module):
    """Multi-head self-attention over the tokens (dropout on the attention weights); keys where
    `padding` is True are left out."""

    def __init__(self, d_token: int, n_heads: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(d_token, n_heads, dropout=dropout, batch_first=True)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        outputs, _ = self.attention(
            tokens, tokens, tokens, key_padding_mask=padding, need_weights=False
        )
        return outputs


class ChannelsFirst(nn.Module):
    """[batch, *spatial, channels], the array as stored (and as Keras convolves it) ->
    [batch, channels, *spatial], torch's convolution layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, 1)


class GlobalAveragePool(nn.Module):
    """[batch, channels, *spatial] -> [batch, channels]: each channel's mean over positions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(dim=2)


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


class TransformerBlock(nn.Module):
    """The FT-Transformer's pre-norm block (see `ft_transformer`) with [PAD] keys masked out:
    LayerNorm -> self-attention -> dropout, added; then the feed-forward network, added."""

    def __init__(self, width: int, p: FTTransformerParams | TransformerParams):
        super().__init__()
        self.attention_norm = _layer_norm(width)
        self.attention = SelfAttention(width, p.n_heads, p.attention_dropout)
        self.residual_dropout = nn.Dropout(p.residual_dropout)
        self.feed_forward = _feed_forward(width, p.d_ffn, p.ffn_dropout, p.residual_dropout)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        attended = self.attention(self.attention_norm(tokens), padding)
        return self.feed_forward(tokens + self.residual_dropout(attended))


class TextTransformer(nn.Module):
    """Token ids [batch, max_length] -> embeddings -> blocks (a key whose id is [PAD] takes no
    attention) -> the [CLS] token, always the first, through the head."""

    def __init__(
        self, model: TransformerModel, vocabulary_size: int, max_length: int, n_outputs: int
    ):
        super().__init__()
        p = model.params
        self.padding_id = PAD_ID  # an attribute: TorchScript reads no module globals
        self.embedding = TokenEmbedding(vocabulary_size, max_length, p.d_model)
        self.blocks = nn.ModuleList(TransformerBlock(p.d_model, p) for _ in range(p.n_blocks))
        self.head = nn.Sequential(*_head(p.d_model, n_outputs))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        padding = ids == self.padding_id
        tokens = self.embedding(ids)
        for block in self.blocks:
            tokens = block(tokens, padding)
        return self.head(tokens[:, 0])


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


def cnn(model: CNNModel, shape: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    """2-D convolutions for an image [H, W, C], 1-D for a series [steps, C]; the input arrives
    channels last and is permuted once."""
    p = model.params
    image = len(shape) == 3
    convolution = nn.Conv2d if image else nn.Conv1d
    pooling = nn.MaxPool2d if image else nn.MaxPool1d
    layers: list[nn.Module] = [ChannelsFirst()]
    width = shape[-1]
    for channels in p.channels:
        conv = convolution(width, channels, p.kernel_size, padding="same")
        layers += [conv, nn.ReLU(), pooling(2)]  # pooling: stride 2, rounding down
        width = channels
    return nn.Sequential(
        *layers,
        GlobalAveragePool(),
        nn.Linear(width, p.d_hidden),
        nn.ReLU(),
        nn.Dropout(p.dropout),
        nn.Linear(p.d_hidden, n_outputs),
    )


@torch.no_grad()
def initialise(network: nn.Module) -> nn.Module:
    """Apply the initialisation contract of `components.common.architectures` in place."""
    for module in network.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):  # also attention's output
            # A convolution kernel [c_out, c_in, k, ...]: fans c_in * k^d and c_out * k^d.
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
        elif isinstance(module, TokenEmbedding):
            bound = 1 / math.sqrt(module.token.shape[1])
            for parameter in (module.token, module.position):
                nn.init.uniform_(parameter, -bound, bound)
    return network


def build_network(training: TrainingSpec, network_input: NetworkInput, n_outputs: int) -> nn.Module:
    """The spec's model family (`training.model`) on `network_input`, initialised; it returns
    logits. A custom pair's network is the user's, checked and initialised by its builder."""
    model = training.model
    check_input(model.family, network_input)
    if isinstance(model, CustomModel):
        return custom_network(model, network_input, n_outputs)
    if isinstance(model, MLPModel):
        network = mlp(network_input.width, training.hidden_sizes, n_outputs)
    elif isinstance(model, ResNetModel):
        network = resnet(model, network_input.width, n_outputs)
    elif isinstance(model, FTTransformerModel):
        network = ft_transformer(model, network_input.width, n_outputs)
    elif isinstance(model, CNNModel):
        network = cnn(model, network_input.shape, n_outputs)
    else:
        vocabulary_size, max_length = network_input.vocabulary_size, network_input.max_length
        network = TextTransformer(model, vocabulary_size, max_length, n_outputs)
    return initialise(network)
