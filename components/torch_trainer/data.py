"""The snapshot's train and eval splits as encoded tensors, sharded per process.

Rows are encoded with the manifest's train statistics (`components.common.features`), the same
input the TensorFlow side sees: a float32 matrix, an array feature's tensor or token ids. Each
loader has an explicit DistributedSampler (also with one process) seeded with the run's seed;
the training loop sets its epoch, so the shuffle order is a function of (seed, epoch) and a run
resumed at epoch N sees the order an uninterrupted run would have.
With N processes the sampler pads a split to a multiple of N by repeating a few rows (at most
N - 1), so the per-epoch validation metrics can count those rows twice.

Batches are fetched whole (`batch_loader`): the sampler's indices go to the dataset a batch at a
time and each tensor is indexed once, rather than once per row and then stacked by the default
collate — per-row fetching cost more than the training step itself on the benchmark table.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    Sampler,
    TensorDataset,
    default_convert,
)

from components.common.features import network_inputs
from components.common.targets import training_targets
from components.torch_trainer.batching import per_process_batch


class BatchedTensorDataset(TensorDataset):
    """A TensorDataset that DataLoader reads a batch of indices at a time (`__getitems__`)."""

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        index = torch.as_tensor(indices)
        return [tensor[index] for tensor in self.tensors]


def split_dataset(snapshot_dir: Path, split: str, manifest: dict) -> BatchedTensorDataset:
    table = pq.read_table(Path(snapshot_dir) / split)
    x = torch.from_numpy(network_inputs(table, manifest, Path(snapshot_dir)))
    y = torch.from_numpy(training_targets(table, manifest))
    return BatchedTensorDataset(x, y)


def batch_loader(dataset: BatchedTensorDataset, batch_size: int, sampler: Sampler) -> DataLoader:
    """Batches of `batch_size` rows in the sampler's order, the last one shorter. The sampler stays
    reachable as `loader.batch_sampler.sampler`, where its epoch is set."""
    # default_convert passes the already-batched tensors through (default_collate would stack).
    return DataLoader(
        dataset,
        batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
        collate_fn=default_convert,
    )


def shard_loader(
    dataset: BatchedTensorDataset,
    global_batch: int,
    world_size: int,
    rank: int,
    seed: int,
    shuffle: bool,
) -> DataLoader:
    """This process's shard of `dataset`, in batches of its share of the global batch."""
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed
    )
    return batch_loader(dataset, per_process_batch(global_batch, world_size), sampler)
