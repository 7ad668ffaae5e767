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


class EpochSums:
    """Loss and correct predictions summed over an epoch's batches, kept as tensors (no sync per
    step). Logged once an epoch: a `self.log` per step cost more than the training step of a
    small network (Lightning's bookkeeping per call), and the metrics are only wanted per epoch."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.loss: torch.Tensor | None = None
        self.correct: torch.Tensor | None = None
        self.rows = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """`loss` is the batch's mean loss."""
        batch_loss = loss.detach() * len(labels)
        correct = (logits.detach().argmax(dim=1) == labels).sum()
        if self.loss is None:
            self.loss, self.correct = batch_loss, correct
        else:
            self.loss += batch_loss
            self.correct += correct
        self.rows += len(labels)

    def means(self, prefix: str) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}_loss": self.loss / self.rows,
            f"{prefix}_accuracy": self.correct / self.rows,
        }


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
        self._train_sums, self._val_sums = EpochSums(), EpochSums()
        # The step zeroes, backpropagates and steps itself, as a plain torch loop does: Lightning's
        # automatic optimization wraps every step in a closure and its hooks, which cost a
        # measurable share of a small network's step (see benchmarks `ddp`).
        self.automatic_optimization = False
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

    def _step(self, batch, sums: EpochSums) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        sums.add(loss, logits, y)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        loss = self._step(batch, self._train_sums)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        # Logged once, when the epoch's last batch is done: before the callbacks' (EpochMetrics')
        # on_train_epoch_end, which runs ahead of this module's own on_train_epoch_end.
        if self.trainer.is_last_batch:
            self._log_epoch(self._train_sums, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, self._val_sums)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self._val_sums, "val")

    def _log_epoch(self, sums: EpochSums, prefix: str) -> None:
        """Every rank has as many rows (the sampler pads), so the mean over ranks is the epoch's."""
        self.log_dict(sums.means(prefix), on_step=False, on_epoch=True, sync_dist=True)
        sums.reset()

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
