"""split_of_rows: deterministic, order-independent, salted by the seed, close to the ratios."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.ingest.split import split_of_rows
from components.spec import DatasetSpec


def _dataset(**changes) -> DatasetSpec:
    fields = {
        "source": "unused.csv",
        "label": "kind",
        "classes": ["a", "b"],
        "features": [{"name": "x", "type": "numeric"}],
    }
    return DatasetSpec(**{**fields, **changes})


def _table(n: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table(
        {
            "key": pa.array([f"row-{i}" for i in range(n)]),
            "kind": pa.array(rng.choice(["a", "b"], n)),
            "x": pa.array(rng.normal(size=n)),
        }
    )


def test_split_of_a_key_never_changes():
    """Pins the hash: if pandas or this code changes the assignment, reruns would reshuffle."""
    table = _table(16)
    expected = [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 2, 1, 0, 0]
    assert split_of_rows(table, _dataset(id="key")).tolist() == expected


def test_split_follows_the_key_not_the_row_order():
    table = _table(2000)
    dataset = _dataset(id="key")
    order = np.random.default_rng(1).permutation(table.num_rows)
    direct = dict(zip(table["key"].to_pylist(), split_of_rows(table, dataset), strict=True))
    shuffled_table = table.take(order)
    shuffled = split_of_rows(shuffled_table, dataset)
    assert dict(zip(shuffled_table["key"].to_pylist(), shuffled, strict=True)) == direct


def test_without_id_identical_rows_share_a_split():
    table = _table(500)
    doubled = pa.concat_tables([table, table])
    split = split_of_rows(doubled.drop_columns(["key"]), _dataset())
    assert (split[:500] == split[500:]).all()


def test_ratios_are_respected_and_the_seed_redraws():
    table = _table(20_000)
    split = split_of_rows(table, _dataset(id="key", split={"train": 0.6, "eval": 0.3, "test": 0.1}))
    shares = np.bincount(split, minlength=3) / len(split)
    assert np.allclose(shares, [0.6, 0.3, 0.1], atol=0.015)
    reseeded = split_of_rows(
        table, _dataset(id="key", seed=43, split={"train": 0.6, "eval": 0.3, "test": 0.1})
    )
    assert (split != reseeded).mean() > 0.3


def test_without_id_an_array_row_keys_by_its_values_in_order():
    """Each row's split comes from its own values alone (not its batch), with its ratios kept."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 4, size=(4000, 6)).astype(np.float32)
    dataset = _dataset(features=[{"name": "x", "type": "array", "shape": [6]}])

    def split_of(rows: np.ndarray) -> np.ndarray:
        lists = pa.ListArray.from_arrays(pa.array(np.arange(len(rows) + 1) * 6), rows.ravel())
        return split_of_rows(pa.table({"kind": ["a"] * len(rows), "x": lists}), dataset)

    split = split_of(values)
    order = rng.permutation(len(values))
    assert (split_of(values[order]) == split[order]).all()
    shares = np.bincount(split, minlength=3) / len(split)
    assert np.allclose(shares, [0.7, 0.15, 0.15], atol=0.03)
    reversed_rows = split_of(values[:, ::-1])
    assert (reversed_rows != split).mean() > 0.3
