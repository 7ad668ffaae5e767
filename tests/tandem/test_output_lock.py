"""The output folder's lock leaves no trace of a command that wrote nothing."""

from __future__ import annotations

import pytest

from components.common.errors import TandemError
from tandem.output_lock import LOCK_FILE, output_lock


def test_a_folder_made_for_a_refused_command_is_removed_again(tmp_path):
    output = tmp_path / "runs" / "penguins"
    with pytest.raises(TandemError, match="bad spec"), output_lock(output, "run"):
        assert (output / LOCK_FILE).is_file()
        raise TandemError("bad spec")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_output_or_made_before_keeps_everything(tmp_path):
    written = tmp_path / "new"
    with output_lock(written, "run"):
        (written / "snapshots").mkdir()
    assert sorted(p.name for p in written.iterdir()) == [LOCK_FILE, "snapshots"]
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(TandemError), output_lock(existing, "ingest"):
        raise TandemError("bad data")
    assert [p.name for p in existing.iterdir()] == [LOCK_FILE]
