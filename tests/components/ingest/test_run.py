"""run_ingest end to end with the real Beam runner: counts, snapshot, cache, atomicity, faults."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from components.common.errors import TandemError
from components.ingest import run as ingest_run
from components.ingest.run import DEFAULT_BEAM_ARGS, run_ingest
from components.ingest.snapshot import (
    MANIFEST,
    SNAPSHOTS_DIR,
    current_snapshot_link,
    point_current,
)
from components.ingest.validate import REASON, SOURCE_FILE, SOURCE_ROW
from components.spec import default_spec_path, load_spec
from tests.conftest import PENGUINS_CSV
from tests.tandem.conftest import TANDEM

pytestmark = pytest.mark.e2e


def _split_table(snapshot: Path, split: str) -> pa.Table:
    return pq.read_table(snapshot / split)


def _published(output_dir: Path) -> list[str]:
    snapshots = output_dir / SNAPSHOTS_DIR
    return sorted(p.name for p in snapshots.iterdir()) if snapshots.exists() else []


@pytest.fixture(scope="module")
def penguins(tmp_path_factory) -> ingest_run.IngestResult:
    output = tmp_path_factory.mktemp("penguins")
    return run_ingest(load_spec(default_spec_path()), output, track=False)


def test_the_current_link_names_the_latest_snapshot_of_the_spec(penguins, tmp_path):
    link = current_snapshot_link(penguins.snapshot_dir.parents[1], "penguins")
    assert link.is_symlink() and link.resolve() == penguins.snapshot_dir
    other = tmp_path / SNAPSHOTS_DIR / "penguins-000000000000"
    other.mkdir(parents=True)
    moved = current_snapshot_link(tmp_path, "penguins")
    point_current(moved, other)
    point_current(moved, other)  # replacing an existing link
    assert moved.resolve() == other
    assert sorted(p.name for p in moved.parent.iterdir()) == [other.name, moved.name]


def test_penguins_rows_are_all_accounted_for(penguins):
    counts = penguins.counts
    assert counts["read"] == 344
    assert counts["accepted"] == 333
    assert counts["quarantined_by_reason"] == {
        "missing_value:sex": 9,
        "missing_value:bill_length_mm": 2,
    }
    assert sum(counts["splits"].values()) == 333
    quarantine = pq.read_table(penguins.snapshot_dir / "quarantine")
    assert quarantine.num_rows == 11
    assert sorted(quarantine[SOURCE_ROW].to_pylist())[:2] == [4, 9]
    assert set(quarantine[REASON].to_pylist()) == set(counts["quarantined_by_reason"])


def test_snapshot_splits_are_disjoint_and_typed(penguins):
    ids = {}
    for split in ("train", "eval", "test"):
        table = _split_table(penguins.snapshot_dir, split)
        assert table.num_rows == penguins.counts["splits"][split]
        assert table.schema.field("bill_length_mm").type == pa.float64()
        ids[split] = set(table[penguins.manifest["id_column"]].to_pylist())
    assert not (
        ids["train"] & ids["eval"] or ids["train"] & ids["test"] or ids["eval"] & ids["test"]
    )


def test_manifest_statistics_come_from_the_train_split_only(penguins):
    train = _split_table(penguins.snapshot_dir, "train")
    stats = penguins.manifest["statistics"]
    for name, numbers in stats["numeric"].items():
        values = train[name].to_numpy()
        assert numbers["mean"] == pytest.approx(values.mean(), abs=1e-9)
        assert numbers["std"] == pytest.approx(values.std(ddof=0), abs=1e-9)
    islands = train["island"].to_pylist()
    assert stats["categorical"]["island"]["counts"] == {
        v: islands.count(v) for v in ("Biscoe", "Dream", "Torgersen")
    }
    on_disk = json.loads((penguins.snapshot_dir / MANIFEST).read_text())
    assert on_disk["fingerprint"] == penguins.manifest["fingerprint"]


def test_rerun_is_a_cache_hit_without_importing_beam(penguins):
    """A cache hit neither runs nor imports Beam (seconds of every pipeline run's ingest step)."""
    output = str(penguins.snapshot_dir.parents[1])
    code = (
        "import sys; from pathlib import Path; "
        "from components.ingest.run import run_ingest; "
        "from components.spec import default_spec_path, load_spec; "
        f"again = run_ingest(load_spec(default_spec_path()), Path({output!r}), track=False); "
        "print(again.cache_hit, again.snapshot_dir, 'apache_beam' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.split() == ["True", str(penguins.snapshot_dir), "False"]


def test_fingerprint_follows_content_not_location(penguins, tmp_path, write_spec):
    moved = tmp_path / "elsewhere.csv"
    shutil.copy(PENGUINS_CSV, moved)
    same = run_ingest(load_spec(write_spec(source=str(moved))), tmp_path / "a", track=False)
    assert same.manifest["fingerprint"] == penguins.manifest["fingerprint"]
    reseeded = run_ingest(
        load_spec(write_spec(name="s2.yaml", seed=7)), tmp_path / "b", track=False
    )
    assert reseeded.manifest["fingerprint"] != penguins.manifest["fingerprint"]
    with moved.open("a") as handle:
        handle.write("Gentoo,Biscoe,50.0,15.0,220,5000,male,2009\n")
    changed = run_ingest(load_spec(write_spec(source=str(moved))), tmp_path / "c", track=False)
    assert changed.manifest["fingerprint"] != penguins.manifest["fingerprint"]
    assert changed.counts["read"] == 345


def test_an_archive_member_ingests_like_its_file_and_its_content_keys_the_cache(
    penguins, tmp_path, write_spec
):
    lines = PENGUINS_CSV.read_text().splitlines(keepends=True)
    with zipfile.ZipFile(tmp_path / "penguins.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("all/penguins.csv", "".join(lines))
        archive.writestr("fewer/penguins.csv", "".join(lines[:-1]))
    output = tmp_path / "out"

    def ingest(member: str) -> ingest_run.IngestResult:
        spec = write_spec(source=f"penguins.zip#{member}")
        return run_ingest(load_spec(spec), output, track=False)

    whole = ingest("all/penguins.csv")
    fewer = ingest("fewer/penguins.csv")
    again = ingest("all/penguins.csv")

    assert whole.counts == penguins.counts
    assert whole.manifest["fingerprint"] == penguins.manifest["fingerprint"]
    assert whole.manifest["sources"][0]["path"] == f"{tmp_path / 'penguins.zip'}#all/penguins.csv"
    quarantine = pq.read_table(whole.snapshot_dir / "quarantine")
    assert set(quarantine[SOURCE_FILE].to_pylist()) == {"penguins.zip#all/penguins.csv"}
    assert fewer.manifest["fingerprint"] != whole.manifest["fingerprint"]
    assert (fewer.cache_hit, fewer.counts["read"]) == (False, 343)
    assert again.cache_hit and again.snapshot_dir == whole.snapshot_dir


def test_parquet_input_gives_the_same_splits_as_csv(penguins, tmp_path, write_spec):
    table = pacsv.read_csv(PENGUINS_CSV, convert_options=pacsv.ConvertOptions(null_values=["NA"]))
    pq.write_table(table, tmp_path / "penguins.parquet")
    result = run_ingest(
        load_spec(write_spec(source="penguins.parquet", format="parquet")),
        tmp_path / "out",
        track=False,
    )
    assert result.counts == penguins.counts
    for split in ("train", "test"):
        columns = ["species", "bill_length_mm", "body_mass_g"]
        from_csv = _split_table(penguins.snapshot_dir, split).select(columns).to_pylist()
        from_parquet = _split_table(result.snapshot_dir, split).select(columns).to_pylist()
        key = lambda row: tuple(row.values())  # noqa: E731
        assert sorted(from_csv, key=key) == sorted(from_parquet, key=key)


def test_duplicate_ids_across_files_keep_the_first(tmp_path, penguins_document, write_spec):
    rows = [
        "key,species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
    ]
    rows += [f"k{i},Adelie,Dream,{40 + i % 7},18,190,3800,male,2008" for i in range(60)]
    (tmp_path / "part-1.csv").write_text("\n".join(rows) + "\n")
    repeat = [
        rows[0],
        "k5,Gentoo,Biscoe,50,15,220,5000,female,2009",
        "k70,Adelie,Dream,41,18,190,3800,male,2008",
    ]
    (tmp_path / "part-2.csv").write_text("\n".join(repeat) + "\n")
    penguins_document["ingest"]["batch_rows"] = 8
    spec = write_spec(penguins_document, source="part-*.csv", id="key")
    result = run_ingest(load_spec(spec), tmp_path / "out", track=False)
    assert result.counts["read"] == 62
    assert result.counts["quarantined_by_reason"] == {"duplicate_id:key": 1}
    quarantine = pq.read_table(result.snapshot_dir / "quarantine").to_pylist()
    assert quarantine[0]["_source_file"] == "part-2.csv"
    assert quarantine[0]["species"] == "Gentoo"


def test_default_runner_is_local_and_downloads_nothing(tmp_path, no_network):
    assert "--runner=FnApiRunner" in DEFAULT_BEAM_ARGS
    result = run_ingest(load_spec(default_spec_path()), tmp_path, track=False)
    assert result.manifest["beam_options"][0] == "--runner=FnApiRunner"
    assert no_network == []


def test_beam_options_pass_through(tmp_path, penguins):
    args = ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]
    result = run_ingest(load_spec(default_spec_path()), tmp_path, beam_args=args, track=False)
    assert result.manifest["beam_options"][-2:] == args
    assert result.counts == penguins.counts


def test_unknown_runner_is_a_clear_error(tmp_path):
    with pytest.raises(TandemError, match="Unexpected pipeline runner: NoSuchRunner"):
        run_ingest(load_spec(default_spec_path()), tmp_path, ["--runner=NoSuchRunner"], track=False)
    assert _published(tmp_path) == []


def _staged_files(output_dir: Path) -> list[Path]:
    snapshots = output_dir / SNAPSHOTS_DIR
    return [path for path in snapshots.glob(".tmp-*/**/*") if path.is_file()]


def test_sigkill_while_writing_publishes_nothing_and_the_rerun_equals_a_clean_run(
    tmp_path, penguins
):
    """A real `tandem ingest` SIGKILLed once Beam has written into its staging folder: nothing is
    published (no snapshot, no current link), and the rerun publishes the clean run's snapshot,
    removing the dead run's staging folder."""
    command = [str(TANDEM), "ingest", "--output-dir", str(tmp_path)]
    killed = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not _staged_files(tmp_path):
            assert killed.poll() is None, "ingest finished before it was killed"
            assert time.monotonic() < deadline, "ingest never wrote into its staging folder"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    (staging,) = [path.name for path in (tmp_path / SNAPSHOTS_DIR).iterdir()]
    assert staging.startswith(f".tmp-{killed.pid}-")

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    snapshot = penguins.snapshot_dir.name
    assert _published(tmp_path) == sorted([snapshot, "penguins-current"])
    manifest = json.loads((tmp_path / SNAPSHOTS_DIR / snapshot / MANIFEST).read_text())
    assert manifest["fingerprint"] == penguins.manifest["fingerprint"]
    assert manifest["counts"] == penguins.counts
    assert manifest["files"] == penguins.manifest["files"]
    for split in ("train", "eval", "test", "quarantine"):
        rows = _split_table(tmp_path / SNAPSHOTS_DIR / snapshot, split)
        clean = _split_table(penguins.snapshot_dir, split)
        assert rows.sort_by(rows.column_names[0]).equals(clean.sort_by(clean.column_names[0]))


def test_abandoned_staging_of_a_dead_process_is_removed(tmp_path):
    stale = tmp_path / SNAPSHOTS_DIR / ".tmp-999999999-deadbeef"
    stale.mkdir(parents=True)
    (stale / "train").mkdir()
    run_ingest(load_spec(default_spec_path()), tmp_path, track=False)
    assert not stale.exists()
    live = tmp_path / SNAPSHOTS_DIR / f".tmp-{os.getpid()}-cafe0000"
    live.mkdir()
    run_ingest(load_spec(default_spec_path()), tmp_path / "other", track=False)
    assert live.exists()


def test_reconciliation_mismatch_publishes_nothing(tmp_path, monkeypatch):
    real_run_beam = ingest_run._run_beam

    def lossy(*args):
        summary = real_run_beam(*args)
        summary["read"] += 1
        return summary

    monkeypatch.setattr(ingest_run, "_run_beam", lossy)
    with pytest.raises(TandemError, match=r"reconciliation failed.*read 345 rows but accepted 333"):
        run_ingest(load_spec(default_spec_path()), tmp_path, track=False)
    assert _published(tmp_path) == []


def test_rows_written_must_match_rows_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_run, "_rows_on_disk", lambda directory: 0)
    with pytest.raises(TandemError, match=r"split train: counted \d+ rows, wrote 0"):
        run_ingest(load_spec(default_spec_path()), tmp_path, track=False)
    assert _published(tmp_path) == []


def test_too_few_rows_for_the_splits(tmp_path, write_spec):
    lines = PENGUINS_CSV.read_text().splitlines()[:3]
    (tmp_path / "tiny.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(TandemError, match="got no rows"):
        run_ingest(load_spec(write_spec(source="tiny.csv")), tmp_path / "out", track=False)


def test_every_row_quarantined_keeps_the_rows_and_publishes_nothing(tmp_path, write_spec):
    spec = write_spec(classes=["Emperor", "King"])
    with pytest.raises(TandemError, match="all 344 rows were quarantined") as error:
        run_ingest(load_spec(spec), tmp_path, track=False)
    assert "unknown_class:species" in str(error.value)
    assert _published(tmp_path) == []
    rejected = next((tmp_path / "rejected").iterdir())
    assert pq.read_table(rejected).num_rows == 344


def test_mlflow_run_nests_under_the_pipeline_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from components.common.tracking import experiment_name, tracking_uri

    uri = tracking_uri(tmp_path)
    # An explicit artifact location: MLflow's default is ./mlruns under the working directory.
    experiment_id = MlflowClient(uri).create_experiment(
        experiment_name("penguins"), artifact_location=(tmp_path / "artifacts").as_uri()
    )
    parent = MlflowClient(uri).create_run(experiment_id, run_name="pipeline")
    monkeypatch.setenv("MLFLOW_RUN_ID", parent.info.run_id)

    result = run_ingest(load_spec(default_spec_path()), tmp_path)

    run = MlflowClient(uri).get_run(result.mlflow_run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.data.tags["tandem.dataset_fingerprint"] == result.manifest["fingerprint"]
    assert run.data.metrics["rows_read"] == 344
    # The process's high-water mark during the ingest: Beam and pyarrow take well over 50 MiB.
    assert run.data.metrics["peak_rss_mb"] == result.peak_rss_mb > 50
    assert run.data.metrics["start_rss_mb"] == result.start_rss_mb <= result.peak_rss_mb
    assert run.data.metrics["quarantined.missing_value.sex"] == 9
    assert run.inputs.dataset_inputs[0].dataset.digest == result.manifest["fingerprint"][:12]
    artifacts = [a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id)]
    assert artifacts == [MANIFEST]
    assert os.environ["MLFLOW_RUN_ID"] == parent.info.run_id


def test_numbers_in_the_snapshot_are_finite(penguins):
    train = _split_table(penguins.snapshot_dir, "train")
    assert np.isfinite(train["body_mass_g"].to_numpy()).all()


def test_only_the_label_and_categorical_columns_are_dictionary_encoded(penguins):
    part = next((penguins.snapshot_dir / "train").glob("*.parquet"))
    metadata = pq.ParquetFile(part).metadata
    encoded = {
        metadata.schema.column(i).name
        for i in range(metadata.num_columns)
        if "RLE_DICTIONARY" in metadata.row_group(0).column(i).encodings
    }
    assert encoded == {"species", "island", "sex"}
