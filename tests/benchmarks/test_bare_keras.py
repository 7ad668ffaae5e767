"""train_bare: the spec's model on the penguins_snapshot without TFX, for the benchmark."""

from __future__ import annotations

import json
import math

from benchmarks.bare_keras import RESULT_FILE, WEIGHTS_FILE, train_bare
from components.spec import default_spec_path, load_spec

SPEC = load_spec(default_spec_path()).spec


def test_train_bare_learns_penguins(penguins_snapshot, tmp_path):
    report = train_bare(penguins_snapshot.snapshot_dir, SPEC, tmp_path, epochs=3)
    assert report["epochs"] == 3
    assert report["seed"] == SPEC.training.seeds[0]
    assert report["compile"] == "graph"
    assert report["parameter_count"] == 323
    assert math.isfinite(report["final_loss"])
    assert report["final_accuracy"] > 0.6
    assert report["final_val_accuracy"] > 0.6
    assert report["samples_per_s"] > 0
    assert report["train_examples"] == penguins_snapshot.counts["splits"]["train"]
    assert report["wall_s"] >= report["fit_s"] > 0
    assert json.loads((tmp_path / RESULT_FILE).read_text()) == report
    assert (tmp_path / WEIGHTS_FILE).is_file()


def test_train_bare_is_repeatable_with_a_seed(penguins_snapshot, tmp_path):
    first = train_bare(penguins_snapshot.snapshot_dir, SPEC, tmp_path / "a", epochs=1, seed=3)
    second = train_bare(penguins_snapshot.snapshot_dir, SPEC, tmp_path / "b", epochs=1, seed=3)
    assert first["history"] == second["history"]
