"""The trainer's data: encoded splits, the global batch split over processes, seeded sharding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.common.errors import TandemError
from components.torch_trainer.data import shard_loader, split_dataset


def train_set(snapshot):
    return split_dataset(snapshot.snapshot_dir, "train", snapshot.manifest)


def train_loader(snapshot, batch_size: int = 16, world: int = 1, rank: int = 0):
    return shard_loader(train_set(snapshot), batch_size, world, rank, seed=0, shuffle=True)


def epoch_rows(loader, epoch: int) -> list[tuple]:
    """Row order of one epoch, identified by each row's encoded features."""
    loader.batch_sampler.sampler.set_epoch(epoch)
    return [tuple(row.tolist()) for x, _ in loader for row in x]


def test_splits_are_encoded_with_the_manifest(penguins_snapshot):
    x, y = train_set(penguins_snapshot).tensors
    assert x.dtype == torch.float32 and x.shape == (247, 9)
    assert y.dtype == torch.int64 and set(y.tolist()) == {0, 1, 2}
    # z-scores of the train split: mean ~0 for the numeric columns
    np.testing.assert_allclose(x[:, :4].mean(dim=0).numpy(), 0, atol=1e-5)
    eval_set = split_dataset(penguins_snapshot.snapshot_dir, "eval", penguins_snapshot.manifest)
    assert len(eval_set) == 42


def test_two_processes_split_the_global_batch_and_the_rows(penguins_snapshot):
    loaders = [train_loader(penguins_snapshot, world=2, rank=r) for r in (0, 1)]
    assert [loader.batch_sampler.batch_size for loader in loaders] == [8, 8]
    rows = [epoch_rows(loader, epoch=0) for loader in loaders]
    everything = {tuple(row.tolist()) for row in train_set(penguins_snapshot).tensors[0]}
    assert set(rows[0]) | set(rows[1]) == everything
    assert len(set(rows[0]) & set(rows[1])) <= 1  # disjoint, but for the one padding row


def test_shuffle_order_depends_on_seed_and_epoch_only(penguins_snapshot):
    first = train_loader(penguins_snapshot)
    again = train_loader(penguins_snapshot)
    assert epoch_rows(first, 1) == epoch_rows(again, 1)  # a resumed epoch 1 sees this order
    assert epoch_rows(first, 0) != epoch_rows(first, 1)


def test_a_batch_that_does_not_divide_over_processes_is_an_error(penguins_snapshot):
    with pytest.raises(TandemError, match="does not divide into 3 processes"):
        train_loader(penguins_snapshot, batch_size=16, world=3)


def test_batches_are_the_sampled_rows_fetched_whole(penguins_snapshot):
    loader = train_loader(penguins_snapshot, batch_size=16)
    sampler = loader.batch_sampler.sampler
    sampler.set_epoch(3)
    order = list(sampler)
    x, y = train_set(penguins_snapshot).tensors
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [16] * 15 + [7]  # 247 rows
    torch.testing.assert_close(torch.cat([features for features, _ in batches]), x[order])
    torch.testing.assert_close(torch.cat([labels for _, labels in batches]), y[order])
