"""The ingest on Beam's DaskRunner, against a real dask.distributed cluster on 127.0.0.1 (a
scheduler and two one-thread workers), writes the snapshot the default runner writes: the same
fingerprint, counts, quarantine, statistics and split of every row."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from distributed import Client

from components.common.errors import TandemError
from components.ingest.layout import QUARANTINE
from components.ingest.run import RUNNER_PATHS, run_ingest
from components.ingest.snapshot import MANIFEST, SNAPSHOTS_DIR, current_snapshot_link
from components.ingest.split import SPLITS
from components.ingest.validate import SOURCE_FILE, SOURCE_ROW
from components.spec import default_spec_path, load_spec
from tests.conftest import PENGUINS_CSV
from tests.dask_cluster import code_environment, dask_cluster

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

TANDEM = Path(sys.executable).parent / "tandem"
# Where Beam's DaskRunner runs a DoFn over a bag partition: in the name of every such task.
DOFN_TASK = "apply_dofn_to_bundle"
# When and how the snapshot was made, not what it holds.
RUN_FIELDS = {"created_at", "beam_options"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[str]:
    """The scheduler's host:port."""
    with dask_cluster(tmp_path_factory.mktemp("dask-cluster"), workers=2) as address:
        yield address


@pytest.fixture(scope="module")
def client(cluster) -> Iterator[Client]:
    with Client(cluster) as connected:
        connected.get_task_stream()  # the scheduler records tasks from its first call on
        yield connected


def _dofn_tasks(client: Client, since: float) -> list[dict]:
    """The Beam DoFn tasks the cluster ran since `since` (a time.time())."""
    return [task for task in client.get_task_stream(start=since) if DOFN_TASK in str(task["key"])]


def _dask_args(address: str) -> list[str]:
    return ["--runner=DaskRunner", f"--dask_client_address={address}"]


def _tandem_ingest(output_dir: Path, *beam_args: str) -> Path:
    """`tandem ingest` of the bundled penguins spec in its own process; the snapshot it made."""
    completed = subprocess.run(
        [str(TANDEM), "ingest", "--output-dir", str(output_dir)]
        + [f"--beam-arg={arg}" for arg in beam_args],
        capture_output=True,
        text=True,
        check=False,
        env=code_environment(),
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return current_snapshot_link(output_dir, "penguins").resolve()


def _assert_same_snapshot(expected: Path, actual: Path) -> None:
    """Manifest (but when and how it ran), and every split's and the quarantine's rows."""
    manifests = [json.loads((snapshot / MANIFEST).read_text()) for snapshot in (expected, actual)]
    content = [{k: v for k, v in m.items() if k not in RUN_FIELDS} for m in manifests]
    assert content[1] == content[0]
    id_column = manifests[0]["id_column"]
    orders = {name: [(id_column, "ascending")] for name in SPLITS}
    orders[QUARANTINE] = [(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]
    for name, order in orders.items():
        tables = [pq.read_table(snapshot / name).sort_by(order) for snapshot in (expected, actual)]
        assert tables[0].num_rows > 0, name
        assert tables[1].to_pylist() == tables[0].to_pylist(), name
        assert tables[1].schema == tables[0].schema, name


def test_penguins_on_the_dask_cluster_is_the_default_runners_snapshot(cluster, client, tmp_path):
    default = _tandem_ingest(tmp_path / "default")
    started = time.time()
    on_dask = _tandem_ingest(tmp_path / "dask", *_dask_args(cluster))
    tasks = _dofn_tasks(client, started)
    assert tasks, "tandem ingest ran no Beam task on the Dask cluster"
    assert {task["worker"] for task in tasks} <= set(client.scheduler_info()["workers"])
    beam_options = json.loads((on_dask / MANIFEST).read_text())["beam_options"]
    assert beam_options[0] == f"--runner={RUNNER_PATHS['DaskRunner']}"
    assert on_dask.name == default.name  # the same fingerprint
    _assert_same_snapshot(default, on_dask)


def test_several_files_with_repeated_ids_spread_over_both_workers(
    cluster, client, tmp_path, penguins_document, write_spec
):
    """Four files with ids repeated across files and batches: the id pass (a GroupByKey read as
    a side input) quarantines the repeats as the default runner does, and four bag partitions
    keep both workers busy."""
    table = pacsv.read_csv(PENGUINS_CSV)
    ids = [f"p{row}" for row in range(table.num_rows)]
    for row in (10, 100, 200, 300):
        ids[row] = ids[row - 7]
    table = table.append_column("key", pa.array(ids))
    for part in range(4):
        pacsv.write_csv(table.slice(part * 86, 86), tmp_path / f"part-{part}.csv")
    penguins_document["ingest"]["batch_rows"] = 32
    loaded = load_spec(write_spec(penguins_document, source="part-*.csv", id="key"))

    default = run_ingest(loaded, tmp_path / "default", track=False)
    started = time.time()
    args = [*_dask_args(cluster), "--dask_npartitions=4"]
    on_dask = run_ingest(loaded, tmp_path / "dask", beam_args=args, track=False)
    tasks = _dofn_tasks(client, started)

    assert {task["worker"] for task in tasks} == set(client.scheduler_info()["workers"])
    assert on_dask.counts["quarantined_by_reason"]["duplicate_id:key"] == 4
    assert on_dask.counts == default.counts
    _assert_same_snapshot(default.snapshot_dir, on_dask.snapshot_dir)


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    args = [
        "--runner=DaskRunner",
        f"--dask_client_address=127.0.0.1:{closed_port}",
        "--dask_connection_timeout=1",
    ]
    with pytest.raises(
        TandemError, match="start the Dask scheduler or correct --dask_client_address"
    ) as raised:
        run_ingest(load_spec(default_spec_path()), tmp_path, beam_args=args, track=False)
    assert "\n" not in str(raised.value)
    assert not any((tmp_path / SNAPSHOTS_DIR).glob("penguins-*"))
