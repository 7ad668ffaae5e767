"""encode: z-scores from the manifest statistics and one-hot categories, in input_names order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.common.features import encode, input_names, label_indices

MANIFEST = {
    "label": "kind",
    "classes": ["a", "b", "c"],
    "statistics": {
        "numeric": {"x": {"mean": 10.0, "std": 2.0}, "flat": {"mean": 3.0, "std": 0.0}},
        "categorical": {"colour": {"vocabulary": ["red", "blue"]}},
    },
}


def test_encode_normalises_and_one_hot_encodes():
    table = pa.table(
        {
            "x": pa.array([12.0, 8.0, None]),
            "flat": pa.array([3.0, 4.0, 3.0]),
            "colour": pa.array(["blue", None, "green"]),
            "kind": pa.array(["c", "a", "b"]),
        }
    )
    assert input_names(MANIFEST) == ["x", "flat", "colour=red", "colour=blue"]
    encoded = encode(table, MANIFEST)
    assert encoded.dtype == np.float32
    expected = [[1.0, 0.0, 0.0, 1.0], [-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    np.testing.assert_allclose(encoded, expected)
    assert label_indices(table, MANIFEST).tolist() == [2, 0, 1]
