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

import math
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from components.spec import Task
from components.torch_trainer.model import EpochSums, loss_function

SPLITS = ("train", "val")


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


def train_epoch(
    fabric, model, optimizer, loader: DataLoader, throughput: Throughput, task: Task
) -> EpochSums:
    model.train()
    sums = EpochSums(task)
    loss_of = loss_function(task)
    for x, y in _batches(fabric, loader):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        outputs = model(x)
        loss = loss_of(outputs, y)
        fabric.backward(loss)
        optimizer.step()
        sums.add(loss, outputs, y)
        throughput.add(time.perf_counter() - started, len(y))
    return sums


@torch.no_grad()
def evaluate_epoch(fabric, model, loader: DataLoader, task: Task) -> EpochSums:
    model.eval()
    sums = EpochSums(task)
    loss_of = loss_function(task)
    for x, y in _batches(fabric, loader):
        outputs = model(x)
        sums.add(loss_of(outputs, y), outputs, y)
    return sums


def epoch_metrics(fabric, train: EpochSums, evaluated: EpochSums) -> dict[str, float]:
    """The epoch's loss and accuracy (or RMSE, of the standardised target) per split, averaged
    over the processes (a collective)."""
    means = fabric.all_reduce({**train.means("train"), **evaluated.means("val")}, reduce_op="mean")
    metrics = {name: float(value) for name, value in means.items()}
    if train.task == "regression":
        metrics.update({f"{split}_rmse": math.sqrt(metrics[f"{split}_loss"]) for split in SPLITS})
    return metrics


def fit(
    fabric,
    model,
    optimizer,
    loaders: tuple[DataLoader, DataLoader],
    task: Task,
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
        trained = train_epoch(fabric, model, optimizer, train_loader, throughput, task)
        evaluated = evaluate_epoch(fabric, model, eval_loader, task)
        on_epoch_end(epoch, epoch_metrics(fabric, trained, evaluated))
    return throughput
