"""Plots: real PNG files of a sensible size, and no pyplot state left behind."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from components.common.features import label_indices
from components.evaluate.metrics import confusion_matrix
from components.evaluate.plots import plot_calibration, plot_confusion_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def labels_and_probabilities(penguins_snapshot) -> tuple[np.ndarray, np.ndarray]:
    test_split = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    labels = label_indices(test_split, penguins_snapshot.manifest)
    probabilities = np.random.default_rng(5).dirichlet(np.ones(3), size=len(labels))
    return labels, probabilities


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    assert len(data) > 5_000  # a drawn figure, not an empty canvas
    return struct.unpack(">II", data[16:24])


def test_confusion_matrix_plot_is_a_png(labels_and_probabilities, penguins_snapshot, tmp_path):
    labels, probabilities = labels_and_probabilities
    matrix = confusion_matrix(labels, probabilities.argmax(axis=1), 3)
    path = plot_confusion_matrix(
        matrix, penguins_snapshot.manifest["classes"], tmp_path / "plots" / "cm.png", "torch"
    )
    assert path == tmp_path / "plots" / "cm.png"
    width, height = _png_size(path)
    assert width > 300 and height > 300


def test_confusion_matrix_plot_refuses_a_matrix_of_another_size(tmp_path):
    with pytest.raises(ValueError, match="does not fit 3 classes"):
        plot_confusion_matrix(np.zeros((2, 2), int), ["a", "b", "c"], tmp_path / "cm.png", "x")
    assert not (tmp_path / "cm.png").exists()


def test_calibration_plot_is_a_png(labels_and_probabilities, tmp_path):
    labels, probabilities = labels_and_probabilities
    path = plot_calibration(labels, probabilities, tmp_path / "calibration.png", "tfx", bins=10)
    width, height = _png_size(path)
    assert height > width > 300


def test_plotting_leaves_no_pyplot_figures_open(labels_and_probabilities, tmp_path):
    pyplot = pytest.importorskip("matplotlib.pyplot")
    before = pyplot.get_fignums()
    labels, probabilities = labels_and_probabilities
    plot_calibration(labels, probabilities, tmp_path / "a.png", "a")
    plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b", "c"], tmp_path / "b.png", "b")
    assert pyplot.get_fignums() == before


def test_importing_plots_does_not_load_pyplot():
    code = "import sys, components.evaluate.plots\nprint('matplotlib.pyplot' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"
