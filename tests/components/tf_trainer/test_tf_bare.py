"""train_bare: the spec's model on the snapshot without TFX, for the benchmark."""

from __future__ import annotations

import json
import math

from components.tf_trainer.bare import RESULT_FILE, WEIGHTS_FILE, train_bare


def test_train_bare_learns_penguins(snapshot, penguins_spec, tmp_path):
    report = train_bare(snapshot.snapshot_dir, penguins_spec, tmp_path, epochs=3)
    assert report["epochs"] == 3
    assert report["seed"] == penguins_spec.training.seeds[0]
    assert report["compile"] == "graph"
    assert report["parameter_count"] == 323
    assert math.isfinite(report["final_loss"])
    assert report["final_accuracy"] > 0.6
    assert report["final_val_accuracy"] > 0.6
    assert report["samples_per_s"] > 0
    assert report["train_examples"] == snapshot.counts["splits"]["train"]
    assert report["wall_s"] >= report["fit_s"] > 0
    assert json.loads((tmp_path / RESULT_FILE).read_text()) == report
    assert (tmp_path / WEIGHTS_FILE).is_file()


def test_train_bare_is_repeatable_with_a_seed(snapshot, penguins_spec, tmp_path):
    first = train_bare(snapshot.snapshot_dir, penguins_spec, tmp_path / "a", epochs=1, seed=3)
    second = train_bare(snapshot.snapshot_dir, penguins_spec, tmp_path / "b", epochs=1, seed=3)
    assert first["history"] == second["history"]
