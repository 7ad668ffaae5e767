"""The network both frameworks build from the spec: its model family on the encoded inputs.

The network (`networks.build_network`) returns logits (softmax only in the export) or, for
regression, the standardised prediction (`components.common.targets`; the export restores the
label's units). It reads a batch of its `architectures.NetworkInput`; its parameter count is
`architectures.parameter_count`, as Keras counts it: penguins' MLP (9 inputs, [16, 8], 3
classes) has 323. Plain torch: the training loop (`loop`)
drives it with Lightning Fabric.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from components.common.architectures import NetworkInput
from components.common.targets import LabelScale, is_regression, n_outputs
from components.spec import Task, TrainingSpec
from components.torch_trainer.networks import build_network


class EpochSums:
    """Loss (and, for classification, correct predictions) summed over an epoch's batches, kept
    as tensors (no sync per step): the metrics are only wanted per epoch, and reduced over the
    processes then.

    A step only keeps references to its detached loss, outputs and targets; every
    `PENDING_BATCHES` batches (and when the means are read) they are summed in a few vectorised
    operations. Summing per step cost ~6 small tensor operations a step — on a small network
    about a tenth of the step itself, which the benchmarks count against the trainer.
    """

    PENDING_BATCHES = 64

    def __init__(self, task: Task = "classification"):
        self.task = task
        self.reset()

    def reset(self) -> None:
        self.loss: torch.Tensor | None = None
        self.correct: torch.Tensor | None = None
        self.rows = 0
        self._pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def add(self, loss: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """`loss` is the batch's mean loss."""
        self._pending.append((loss.detach(), outputs.detach(), targets))
        self.rows += len(targets)
        if len(self._pending) >= self.PENDING_BATCHES:
            self._reduce()

    @torch.no_grad()
    def _reduce(self) -> None:
        if not self._pending:
            return
        losses, outputs, targets = zip(*self._pending, strict=True)
        losses = torch.stack(losses)
        rows = torch.tensor([len(batch) for batch in targets], dtype=losses.dtype)
        loss = (losses * rows.to(losses.device)).sum()
        self.loss = loss if self.loss is None else self.loss + loss
        if self.task == "classification":
            correct = (torch.cat(outputs).argmax(dim=1) == torch.cat(targets)).sum()
            self.correct = correct if self.correct is None else self.correct + correct
        self._pending.clear()

    def means(self, prefix: str) -> dict[str, torch.Tensor]:
        """The mean loss, and the accuracy for classification. (A regression's RMSE is the root
        of the mean loss once reduced over the processes: `loop.epoch_metrics`.)"""
        self._reduce()
        means = {f"{prefix}_loss": self.loss / self.rows}
        if self.task == "classification":
            means[f"{prefix}_accuracy"] = self.correct / self.rows
        return means


def loss_function(task: Task):
    """Cross-entropy on logits, or mean squared error on the standardised target."""
    return F.mse_loss if task == "regression" else F.cross_entropy


class Restore(nn.Module):
    """A regression network's [batch, 1] output back in the label's units: [batch]."""

    def __init__(self, scale: LabelScale):
        super().__init__()
        self.mean, self.std = float(scale.mean), float(scale.std)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, 0] * self.std + self.mean


class Network(nn.Module):
    """The spec's network. In compile mode its forward is `torch.compile`d (at the first step)."""

    def __init__(
        self,
        training: TrainingSpec,
        network_input: NetworkInput,
        n_outputs: int,
        compile_mode: str = "eager",
        label_scale: LabelScale | None = None,
    ):
        super().__init__()
        # Not `self.training`: nn.Module keeps its train/eval mode there.
        self.training_spec, self.network_input = training, network_input
        self.n_outputs, self.label_scale = n_outputs, label_scale
        self.network = build_network(training, network_input, n_outputs)
        # The compiled forward is a function, not a registered module: the state_dict keys stay
        # those of the eager network, so checkpoints and the export do not depend on the mode.
        # (nn.Module.compile() compiled nothing with torch 2.13: Dynamo captured no graph.)
        self._compiled_forward = (
            torch.compile(self.network.forward) if compile_mode == "compile" else None
        )

    @classmethod
    def from_spec(
        cls, training: TrainingSpec, network_input: NetworkInput, manifest: dict
    ) -> Network:
        """The network for the manifest's task: a regression one carries its label scale."""
        scale = LabelScale.from_manifest(manifest) if is_regression(manifest) else None
        outputs = n_outputs(manifest)
        return cls(training, network_input, outputs, training.compile.pytorch, scale)

    @property
    def task(self) -> Task:
        return "classification" if self.label_scale is None else "regression"

    def parameter_count(self) -> int:
        """Trainable parameters (those requiring gradients), as Keras counts trainable weights."""
        return sum(p.numel() for p in self.network.parameters() if p.requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled_forward is not None:
            return self._compiled_forward(x)
        return self.network(x)

    def inference_module(self) -> nn.Module:
        """An eager copy of the trained network, in eval mode (to export), giving probabilities
        (softmax on top) or predictions in the label's units."""
        network = build_network(self.training_spec, self.network_input, self.n_outputs)
        network.load_state_dict(self.network.state_dict())
        if self.label_scale is None:
            return nn.Sequential(network, nn.Softmax(dim=1)).eval()
        return nn.Sequential(network, Restore(self.label_scale)).eval()


def make_optimizer(training: TrainingSpec, parameters) -> torch.optim.Optimizer:
    """The spec's optimizer; Adam with Keras' epsilon (the spec's), not torch's 1e-8."""
    if training.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=training.learning_rate, eps=training.adam_epsilon)
    return torch.optim.SGD(parameters, lr=training.learning_rate)
