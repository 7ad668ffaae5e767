"""The network both frameworks build from the spec: its model family on the encoded inputs.

The network (`networks.build_network`) returns logits; softmax only in the export. Its parameter
count is `architectures.parameter_count`, as Keras counts it: penguins' MLP (9 inputs, [16, 8],
3 classes) has 323. Plain torch: the training loop (`loop`) drives it with Lightning Fabric.
"""

from __future__ import annotations

import torch
from torch import nn

from components.spec import TrainingSpec
from components.torch_trainer.networks import build_network


class EpochSums:
    """Loss and correct predictions summed over an epoch's batches, kept as tensors (no sync per
    step): the metrics are only wanted per epoch, and reduced over the processes then."""

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


class Network(nn.Module):
    """The spec's network. In compile mode its forward is `torch.compile`d (at the first step)."""

    def __init__(
        self, training: TrainingSpec, n_inputs: int, n_outputs: int, compile_mode: str = "eager"
    ):
        super().__init__()
        # Not `self.training`: nn.Module keeps its train/eval mode there.
        self.training_spec, self.n_inputs, self.n_outputs = training, n_inputs, n_outputs
        self.network = build_network(training, n_inputs, n_outputs)
        # The compiled forward is a function, not a registered module: the state_dict keys stay
        # those of the eager network, so checkpoints and the export do not depend on the mode.
        # (nn.Module.compile() compiled nothing with torch 2.13: Dynamo captured no graph.)
        self._compiled_forward = (
            torch.compile(self.network.forward) if compile_mode == "compile" else None
        )

    @classmethod
    def from_spec(cls, training: TrainingSpec, n_inputs: int, n_outputs: int) -> Network:
        return cls(training, n_inputs, n_outputs, training.compile.pytorch)

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.network.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled_forward is not None:
            return self._compiled_forward(x)
        return self.network(x)

    def inference_module(self) -> nn.Module:
        """An eager copy of the trained network with softmax on top, in eval mode (to export)."""
        network = build_network(self.training_spec, self.n_inputs, self.n_outputs)
        network.load_state_dict(self.network.state_dict())
        return nn.Sequential(network, nn.Softmax(dim=1)).eval()


def make_optimizer(training: TrainingSpec, parameters) -> torch.optim.Optimizer:
    """The spec's optimizer; Adam with Keras' epsilon (the spec's), not torch's 1e-8."""
    if training.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=training.learning_rate, eps=training.adam_epsilon)
    return torch.optim.SGD(parameters, lr=training.learning_rate)
