"""The classifier both frameworks build from the spec: an MLP on the encoded inputs.

Linear + ReLU per hidden size, then Linear to the classes (logits; softmax only in the export).
Weights + biases per layer, as Keras counts them: penguins (9 inputs, [16, 8], 3 classes) has 323.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from components.spec import TrainingSpec

METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def build_network(n_inputs: int, hidden_sizes: list[int], n_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_inputs
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


class Classifier(L.LightningModule):
    def __init__(
        self,
        n_inputs: int,
        n_classes: int,
        hidden_sizes: list[int],
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        adam_epsilon: float = 1e-7,
        compile_mode: str = "eager",
    ):
        super().__init__()
        self.save_hyperparameters()
        self.network = build_network(n_inputs, list(hidden_sizes), n_classes)
        # The compiled forward is a function, not a registered module: the state_dict keys stay
        # those of the eager network, so checkpoints and the export do not depend on the mode.
        # (nn.Module.compile() compiled nothing with torch 2.13: Dynamo captured no graph.)
        # Compilation runs at the first step.
        self._compiled_forward = (
            torch.compile(self.network.forward) if compile_mode == "compile" else None
        )

    @classmethod
    def from_spec(cls, training: TrainingSpec, n_inputs: int, n_classes: int) -> Classifier:
        return cls(
            n_inputs=n_inputs,
            n_classes=n_classes,
            hidden_sizes=list(training.hidden_sizes),
            optimizer=training.optimizer,
            learning_rate=training.learning_rate,
            adam_epsilon=training.adam_epsilon,
            compile_mode=training.compile.pytorch,
        )

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.network.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled_forward is not None:
            return self._compiled_forward(x)
        return self.network(x)

    def _step(self, batch, prefix: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        self.log_dict(
            {f"{prefix}_loss": loss, f"{prefix}_accuracy": accuracy},
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            batch_size=len(y),
        )
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hparams = self.hparams
        if hparams.optimizer == "adam":
            return torch.optim.Adam(
                self.parameters(), lr=hparams.learning_rate, eps=hparams.adam_epsilon
            )
        return torch.optim.SGD(self.parameters(), lr=hparams.learning_rate)

    def inference_module(self) -> nn.Module:
        """An eager copy of the trained network with softmax on top, in eval mode (to export)."""
        hparams = self.hparams
        network = build_network(hparams.n_inputs, list(hparams.hidden_sizes), hparams.n_classes)
        network.load_state_dict(self.network.state_dict())
        return nn.Sequential(network, nn.Softmax(dim=1)).eval()
