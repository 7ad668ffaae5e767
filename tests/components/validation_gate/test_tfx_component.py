"""The example-validation gate: anomalies in any split stop the run with a readable list."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.common.errors import TandemError
from components.validation_gate.tfx_component import (
    ANOMALIES_FILE,
    DataAnomaliesError,
    check_anomalies,
    describe_anomalies,
)


def _write(root: Path, split: str, anomalies: anomalies_pb2.Anomalies) -> None:
    directory = root / f"Split-{split}"
    directory.mkdir(parents=True)
    (directory / ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())


def _anomaly(feature: str, short: str, detail: str) -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info[feature]
    reason = info.reason.add()
    reason.short_description = short
    reason.description = detail
    return anomalies


def test_clean_splits_pass(tmp_path: Path) -> None:
    for split in ("train", "eval"):
        _write(tmp_path, split, anomalies_pb2.Anomalies())
    check_anomalies(str(tmp_path), ["train", "eval"])


def test_anomalies_raise_one_line_per_problem(tmp_path: Path) -> None:
    _write(tmp_path, "train", anomalies_pb2.Anomalies())
    _write(tmp_path, "eval", _anomaly("island", "Unexpected string values", "Atlantis (~100%)"))
    _write(tmp_path, "test", _anomaly("sex", "Column dropped", "Column is completely missing"))

    with pytest.raises(DataAnomaliesError) as raised:
        check_anomalies(str(tmp_path), ["train", "eval", "test"])

    assert isinstance(raised.value, TandemError)
    lines = str(raised.value).splitlines()
    assert "2 anomalies" in lines[0]
    assert lines[1:] == [
        "  eval: island: Unexpected string values (Atlantis (~100%))",
        "  test: sex: Column dropped (Column is completely missing)",
    ]


def test_dataset_level_anomaly_is_listed() -> None:
    anomalies = anomalies_pb2.Anomalies()
    reason = anomalies.dataset_anomaly_info.reason.add()
    reason.short_description = "Low num examples in dataset"
    assert describe_anomalies({"eval": anomalies}) == [
        "eval: (dataset): Low num examples in dataset"
    ]
