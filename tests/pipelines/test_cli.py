"""The `tandem` command line: bad input gives one clear line and exit 2; good input works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml
from sklearn.datasets import load_wine

from components.ingest.snapshot import SNAPSHOTS_DIR
from pipelines import cli
from tests.conftest import PENGUINS_CSV

TANDEM = Path(sys.executable).parent / "tandem"


def _tandem(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tandem", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _penguins_with(tmp_path: Path, transform) -> Path:
    lines = PENGUINS_CSV.read_text().splitlines()
    path = tmp_path / "data.csv"
    path.write_text(transform(lines))
    return path


BAD_DATA = {
    "missing file": (lambda tmp: tmp / "nowhere.csv", {}, "data file not found"),
    "empty file": (lambda tmp: _penguins_with(tmp, lambda lines: ""), {}, "the file is empty"),
    "header only": (
        lambda tmp: _penguins_with(tmp, lambda lines: lines[0] + "\n"),
        {},
        "has a header but no data rows",
    ),
    "label absent": (
        lambda tmp: _penguins_with(tmp, lambda lines: "\n".join(lines)),
        {"label": "kind"},
        "the label column 'kind'",
    ),
    "unknown column": (
        lambda tmp: _penguins_with(tmp, lambda lines: "\n".join(line + ",x" for line in lines)),
        {},
        "columns not declared in the spec: x",
    ),
    "missing feature column": (
        lambda tmp: _penguins_with(
            tmp,
            lambda lines: "\n".join(
                line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1] for line in lines
            ),
        ),
        {},
        "feature columns missing from the file: sex",
    ),
    "every row quarantined": (
        lambda tmp: _penguins_with(tmp, lambda lines: "\n".join(lines)),
        {"classes": ["Emperor", "King"]},
        "all 344 rows were quarantined",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_clear_line_and_nothing_published(
    case, tmp_path, write_spec, monkeypatch, capsys
):
    make_data, changes, message = BAD_DATA[case]
    data = make_data(tmp_path)
    spec = write_spec(source=str(data), **changes)
    output = tmp_path / "out"
    code, _, err = _tandem(
        monkeypatch, capsys, "ingest", "--spec", str(spec), "--output-dir", str(output)
    )
    assert code == 2
    assert err.startswith("error: ")
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    snapshots = output / SNAPSHOTS_DIR
    assert not snapshots.exists() or not any(
        p for p in snapshots.iterdir() if not p.name.startswith(".")
    )
    assert not snapshots.exists() or list(snapshots.iterdir()) == []


BAD_SPECS = {
    "not yaml": ("name: [penguins\n", "not valid YAML (line"),
    "wrong type": (None, "dataset.features[1].type: Input should be 'numeric' or 'categorical'"),
    "not a mapping": ("- just a list\n", "a spec is a YAML mapping"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_unreadable_spec_names_file_and_field(
    case, tmp_path, penguins_document, monkeypatch, capsys
):
    text, message = BAD_SPECS[case]
    if text is None:
        penguins_document["dataset"]["features"][1]["type"] = "float"
        text = yaml.safe_dump(penguins_document)
    spec = tmp_path / "broken.yaml"
    spec.write_text(text)
    code, _, err = _tandem(
        monkeypatch, capsys, "ingest", "--spec", str(spec), "--output-dir", str(tmp_path)
    )
    assert code == 2
    assert str(spec) in err
    assert message in " ".join(err.split())


def test_missing_spec_file(tmp_path, monkeypatch, capsys):
    code, _, err = _tandem(monkeypatch, capsys, "run", "--spec", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml: spec file not found" in " ".join(err.split())


@pytest.mark.e2e
def test_init_spec_then_ingest_a_table_never_seen(tmp_path, monkeypatch, capsys):
    wine = pa.Table.from_pandas(load_wine(as_frame=True).frame, preserve_index=False)
    pacsv.write_csv(wine, tmp_path / "wine.csv")
    code, spec_yaml, _ = _tandem(
        monkeypatch, capsys, "init-spec", "--data", str(tmp_path / "wine.csv"), "--label", "target"
    )
    assert code == 0
    (tmp_path / "wine.yaml").write_text(spec_yaml)
    code, out, _ = _tandem(
        monkeypatch,
        capsys,
        "ingest",
        "--spec",
        str(tmp_path / "wine.yaml"),
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert code == 0
    assert "178" in out
    assert (tmp_path / "out" / SNAPSHOTS_DIR).is_dir()


def _make_run(cwd: Path) -> subprocess.CompletedProcess:
    """The installed command as `make run` calls it: a relative output dir, its own process."""
    return subprocess.run(
        [str(TANDEM), "run", "--output-dir", "tandem-runs"],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


@pytest.mark.e2e
def test_run_prints_snapshot_counts_and_both_pipelines(tmp_path):
    completed = _make_run(tmp_path)
    assert completed.returncode == 0, completed.stderr
    out = " ".join(completed.stdout.split())
    assert f"snapshot {tmp_path}/tandem-runs/snapshots/penguins-" in out
    assert "rows read 344" in out
    assert "missing_value:sex 9" in out
    assert "tensorflow pipeline blessed yes" in out
    assert "registered penguins-tensorflow version 1" in out
    assert "pytorch pipeline blessed yes" in out
    assert "registered penguins-pytorch version 1" in out
    assert out.count(f"sqlite:///{tmp_path}/tandem-runs/mlflow.db parent run") == 2
    rerun = " ".join(_make_run(tmp_path).stdout.split())
    assert "registered penguins-tensorflow version 1" in rerun  # TFX cache: nothing retrained
    assert "registered penguins-pytorch version 2" in rerun  # kfp.local has no cache


def test_help_explains_every_command():
    completed = subprocess.run([str(TANDEM), "--help"], capture_output=True, text=True, check=True)
    for command in ("init-spec", "ingest", "run"):
        assert command in completed.stdout
    assert "Infer a dataset spec" in completed.stdout
