"""One process's training loop, driven by Lightning Fabric.

Fabric does what the framework should do — DDP over the launcher's processes, the device,
precision, the gradient all-reduce in `backward`, collective metric reduction, rank-0 logging and
checkpoint I/O — and the step itself is the plain torch step: zero the gradients, forward, loss,
backward, optimizer step. Lightning's `Trainer` ran the same step at 0.76x a bare torch loop on
the benchmark table (its per-batch hooks, loop bookkeeping and optimizer wrapping cost more than a
small network's step); this loop runs at the bare loop's speed (see benchmarks `ddp`).

Per epoch: the train shard (its sampler's epoch set, so the order is a function of seed and epoch),
then the eval shard, then `on_epoch_end(epoch, metrics)` on every rank with the metrics averaged
over the processes (every rank has as many rows: the sampler pads).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from components.torch_trainer.model import EpochSums


class Throughput:
    """Training-step time (forward, backward with the gradient all-reduce, optimizer step, the
    epoch sums; not data loading nor validation). The first step of a process is timed apart: it
    includes torch.compile's compilation in compile mode."""

    def __init__(self, world_size: int):
        self.world_size = world_size
        self.first_step_s: float | None = None
        self.step_s = 0.0
        self.samples = 0

    def add(self, elapsed: float, rows: int) -> None:
        if self.first_step_s is None:
            self.first_step_s = elapsed
            return
        self.step_s += elapsed
        self.samples += rows

    def samples_per_s(self) -> float | None:
        """All processes together (ranks step in lockstep under DDP); None before 2 steps."""
        if not self.samples or self.step_s <= 0:
            return None
        return self.samples * self.world_size / self.step_s


def _batches(fabric, loader: DataLoader):
    """The loader's batches, on the device (no copy on CPU)."""
    if fabric.device.type == "cpu":
        return loader
    return (fabric.to_device(batch) for batch in loader)


def train_epoch(fabric, model, optimizer, loader: DataLoader, throughput: Throughput) -> EpochSums:
    model.train()
    sums = EpochSums()
    for x, y in _batches(fabric, loader):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        fabric.backward(loss)
        optimizer.step()
        sums.add(loss, logits, y)
        throughput.add(time.perf_counter() - started, len(y))
    return sums


@torch.no_grad()
def evaluate_epoch(fabric, model, loader: DataLoader) -> EpochSums:
    model.eval()
    sums = EpochSums()
    for x, y in _batches(fabric, loader):
        logits = model(x)
        sums.add(F.cross_entropy(logits, y), logits, y)
    return sums


def epoch_metrics(fabric, train: EpochSums, evaluated: EpochSums) -> dict[str, float]:
    """The epoch's loss and accuracy per split, averaged over the processes (a collective)."""
    means = fabric.all_reduce({**train.means("train"), **evaluated.means("val")}, reduce_op="mean")
    return {name: float(value) for name, value in means.items()}


def fit(
    fabric,
    model,
    optimizer,
    loaders: tuple[DataLoader, DataLoader],
    epochs: range,
    at_epoch_start: Callable[[int], None],
    on_epoch_end: Callable[[int, dict[str, float]], None],
) -> Throughput:
    """Train `epochs` (the range left to run) on this process's shards."""
    train_loader, eval_loader = loaders
    throughput = Throughput(fabric.world_size)
    for epoch in epochs:
        at_epoch_start(epoch)
        train_loader.batch_sampler.sampler.set_epoch(epoch)
        trained = train_epoch(fabric, model, optimizer, train_loader, throughput)
        evaluated = evaluate_epoch(fabric, model, eval_loader)
        on_epoch_end(epoch, epoch_metrics(fabric, trained, evaluated))
    return throughput
