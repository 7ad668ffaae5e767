"""Each model family at two sizes, the cases the Keras, torch and cross-framework tests share."""

from __future__ import annotations

from components.spec import TrainingSpec

SMALL = {
    "mlp": {"family": "mlp"},
    "resnet": {"family": "resnet", "params": {"d_main": 8, "d_hidden": 16, "n_blocks": 1}},
    "ft_transformer": {
        "family": "ft_transformer",
        "params": {"d_token": 8, "n_blocks": 1, "n_heads": 2, "d_ffn": 16},
    },
}
OTHER = {
    "mlp": {"family": "mlp"},
    "resnet": {
        "family": "resnet",
        "params": {"d_main": 12, "d_hidden": 6, "n_blocks": 3, "dropout": 0.1},
    },
    "ft_transformer": {
        "family": "ft_transformer",
        "params": {"d_token": 12, "n_blocks": 2, "n_heads": 3, "d_ffn": 20, "ffn_dropout": 0.1},
    },
}
# (model, hidden_sizes, n_inputs, n_classes): penguins' size with SMALL, another with OTHER.
SIZES = [
    *((SMALL[family], [16, 8], 9, 3) for family in SMALL),
    *((OTHER[family], [20], 14, 5) for family in OTHER),
]
SIZE_IDS = [f"{model['family']}-{n_inputs}in" for model, _, n_inputs, _ in SIZES]


def training_spec(model: dict, hidden_sizes: list[int] | None = None) -> TrainingSpec:
    return TrainingSpec(model=model, hidden_sizes=hidden_sizes or [16, 8])
