"""The snapshot's train and eval splits as encoded tensors, sharded per process.

Rows are encoded with the manifest's train statistics (`components.common.features`), the same
input the TensorFlow side sees. Each loader has an explicit DistributedSampler (also with one
process) seeded with the run's seed: Lightning sets its epoch, so the shuffle order is a function
of (seed, epoch) and a run resumed at epoch N sees the order an uninterrupted run would have.
With N processes the sampler pads a split to a multiple of N by repeating a few rows (at most
N - 1), so the per-epoch validation metrics can count those rows twice.

Batches are fetched whole (`batch_loader`): the sampler's indices go to the dataset a batch at a
time and each tensor is indexed once, rather than once per row and then stacked by the default
collate — per-row fetching cost more than the training step itself on the benchmark table.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
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

from components.common.features import encode, input_names, label_indices
from components.torch_trainer.batching import per_process_batch


class BatchedTensorDataset(TensorDataset):
    """A TensorDataset that DataLoader reads a batch of indices at a time (`__getitems__`)."""

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        index = torch.as_tensor(indices)
        return [tensor[index] for tensor in self.tensors]


def split_dataset(snapshot_dir: Path, split: str, manifest: dict) -> BatchedTensorDataset:
    table = pq.read_table(Path(snapshot_dir) / split)
    x = torch.from_numpy(encode(table, manifest))
    y = torch.from_numpy(label_indices(table, manifest))
    return BatchedTensorDataset(x, y)


def batch_loader(dataset: BatchedTensorDataset, batch_size: int, sampler: Sampler) -> DataLoader:
    """Batches of `batch_size` rows in the sampler's order, the last one shorter. The sampler stays
    reachable as `loader.batch_sampler.sampler`, where Lightning sets its epoch."""
    # default_convert passes the already-batched tensors through (default_collate would stack).
    return DataLoader(
        dataset,
        batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
        collate_fn=default_convert,
    )


class SnapshotDataModule(L.LightningDataModule):
    """`batch_size` is the global batch (see `batching`); the process count is the trainer's."""

    def __init__(self, snapshot_dir: Path, manifest: dict, batch_size: int, seed: int):
        super().__init__()
        self.snapshot_dir = Path(snapshot_dir)
        self.manifest = manifest
        self.batch_size = batch_size
        self.seed = seed
        self.n_inputs = len(input_names(manifest))
        self.n_classes = len(manifest["classes"])

    def setup(self, stage: str | None = None) -> None:
        self.train_set = split_dataset(self.snapshot_dir, "train", self.manifest)
        self.eval_set = split_dataset(self.snapshot_dir, "eval", self.manifest)

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer else (1, 0)

    def _loader(self, dataset: BatchedTensorDataset, shuffle: bool) -> DataLoader:
        world, rank = self._world()
        sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed
        )
        return batch_loader(dataset, per_process_batch(self.batch_size, world), sampler)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.eval_set, shuffle=False)
