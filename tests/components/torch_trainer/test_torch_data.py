"""The data module: encoded splits, the global batch split over processes, seeded sharding."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from components.common.errors import TandemError
from components.torch_trainer.data import SnapshotDataModule


def data_module(snapshot, batch_size: int = 16, world: int = 1, rank: int = 0):
    data = SnapshotDataModule(snapshot.snapshot_dir, snapshot.manifest, batch_size, seed=0)
    data.trainer = SimpleNamespace(world_size=world, global_rank=rank)
    data.setup("fit")
    return data


def epoch_rows(loader, epoch: int) -> list[tuple]:
    """Row order of one epoch, identified by each row's encoded features."""
    loader.batch_sampler.sampler.set_epoch(epoch)
    return [tuple(row.tolist()) for x, _ in loader for row in x]


def test_splits_are_encoded_with_the_manifest(penguins_snapshot):
    data = data_module(penguins_snapshot)
    x, y = data.train_set.tensors
    assert x.dtype == torch.float32 and x.shape == (247, data.n_inputs)
    assert y.dtype == torch.int64 and set(y.tolist()) == {0, 1, 2}
    # z-scores of the train split: mean ~0 for the numeric columns
    np.testing.assert_allclose(x[:, :4].mean(dim=0).numpy(), 0, atol=1e-5)
    assert len(data.eval_set) == 42


def test_two_processes_split_the_global_batch_and_the_rows(penguins_snapshot):
    ranks = [data_module(penguins_snapshot, world=2, rank=r) for r in (0, 1)]
    loaders = [data.train_dataloader() for data in ranks]
    assert [loader.batch_sampler.batch_size for loader in loaders] == [8, 8]
    rows = [epoch_rows(loader, epoch=0) for loader in loaders]
    everything = {tuple(row.tolist()) for row in ranks[0].train_set.tensors[0]}
    assert set(rows[0]) | set(rows[1]) == everything


def test_shuffle_order_depends_on_seed_and_epoch_only(penguins_snapshot):
    first = data_module(penguins_snapshot).train_dataloader()
    again = data_module(penguins_snapshot).train_dataloader()
    assert epoch_rows(first, 1) == epoch_rows(again, 1)  # a resumed epoch 1 sees this order
    assert epoch_rows(first, 0) != epoch_rows(first, 1)


def test_a_batch_that_does_not_divide_over_processes_is_an_error(penguins_snapshot):
    with pytest.raises(TandemError, match="does not divide into 3 processes"):
        data_module(penguins_snapshot, batch_size=16, world=3).train_dataloader()


def test_batches_are_the_sampled_rows_fetched_whole(penguins_snapshot):
    data = data_module(penguins_snapshot, batch_size=16)
    loader = data.train_dataloader()
    sampler = loader.batch_sampler.sampler
    sampler.set_epoch(3)
    order = list(sampler)
    x, y = data.train_set.tensors
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [16] * 15 + [7]  # 247 rows
    torch.testing.assert_close(torch.cat([features for features, _ in batches]), x[order])
    torch.testing.assert_close(torch.cat([labels for _, labels in batches]), y[order])
