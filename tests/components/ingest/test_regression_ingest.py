"""Ingest of a regression spec: a numeric label, its quarantine reasons and its statistics."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from components.ingest.run import run_ingest
from components.ingest.validate import REASON
from components.spec import load_spec
from tests.conftest import PENGUINS_CSV, penguins_regression_document


def test_the_label_is_a_number_and_its_train_statistics_are_in_the_manifest(regression_snapshot):
    manifest = regression_snapshot.manifest
    assert manifest["task"] == "regression"
    assert manifest["classes"] == []
    train = pq.read_table(regression_snapshot.snapshot_dir / "train")
    assert train.schema.field("body_mass_g").type == pa.float64()
    labels = train.column("body_mass_g").to_numpy()
    label = manifest["statistics"]["label"]
    assert label["count"] == len(labels)
    np.testing.assert_allclose([label["mean"], label["std"]], [labels.mean(), labels.std()])
    assert (label["min"], label["max"]) == (labels.min(), labels.max())


def test_a_label_that_is_no_number_or_missing_is_quarantined_with_its_reason(tmp_path):
    table = pacsv.read_csv(
        PENGUINS_CSV, convert_options=pacsv.ConvertOptions(strings_can_be_null=True)
    )
    masses = table.column("body_mass_g").cast(pa.string()).to_pylist()
    masses[0], masses[5] = "heavy", "inf"
    data = table.set_column(
        table.column_names.index("body_mass_g"), "body_mass_g", pa.array(masses, pa.string())
    )
    pacsv.write_csv(data, tmp_path / "penguins.csv")
    document = penguins_regression_document()
    document["dataset"]["source"] = "penguins.csv"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))

    result = run_ingest(load_spec(spec), tmp_path / "out", track=False)

    reasons = result.counts["quarantined_by_reason"]
    assert reasons["not_a_number:body_mass_g"] == 1
    assert reasons["non_finite:body_mass_g"] == 1
    assert reasons["missing_value:body_mass_g"] == 2  # the two rows without any measurement
    quarantine = pq.read_table(result.snapshot_dir / "quarantine")
    held = dict(
        zip(quarantine["body_mass_g"].to_pylist(), quarantine[REASON].to_pylist(), strict=False)
    )
    assert held["heavy"] == "not_a_number:body_mass_g"
