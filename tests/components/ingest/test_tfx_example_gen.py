"""The snapshot's Parquet → tf.Example encoding of the TFX pipeline's ExampleGen: a present value
stays what it is (0.0, 0, false, "" included); only a null is missing."""

from __future__ import annotations

import pyarrow as pa
import pytest
import tensorflow as tf

from components.common.errors import TandemError
from components.ingest.tfx_example_gen import encode_examples


def feature_values(example: tf.train.Example, name: str) -> list:
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def test_falsy_values_stay_and_only_nulls_are_missing() -> None:
    batch = pa.record_batch(
        {
            "x": pa.array([0.0, None, -1.5]),
            "n": pa.array([0, None, 7], pa.int64()),
            "flag": pa.array([False, True, None]),
            "category": pa.array(["", None, "Dream"]),
            "coded": pa.array(["a", "b", None]).dictionary_encode(),
        }
    )
    examples = [tf.train.Example.FromString(s) for s in encode_examples(batch)]

    assert [feature_values(e, "x") for e in examples] == [[0.0], [], [-1.5]]
    assert [feature_values(e, "n") for e in examples] == [[0], [], [7]]
    assert [feature_values(e, "flag") for e in examples] == [[0], [1], []]
    assert [feature_values(e, "category") for e in examples] == [[b""], [], [b"Dream"]]
    assert [feature_values(e, "coded") for e in examples] == [[b"a"], [b"b"], []]
    # A null keeps its column's type: TFDV infers the same type as from the present values.
    assert examples[1].features.feature["x"].WhichOneof("kind") == "float_list"
    # Beam's batched Parquet read yields tables of several chunks: the same rows, in order.
    table = pa.Table.from_batches([batch.slice(0, 1), batch.slice(1)])
    assert [tf.train.Example.FromString(s) for s in encode_examples(table)] == examples


def test_a_column_tf_example_cannot_hold_is_named() -> None:
    batch = pa.record_batch({"when": pa.array([1, 2], pa.timestamp("s"))})
    with pytest.raises(TandemError, match=r"'when' has type timestamp\[s\]"):
        encode_examples(batch)
