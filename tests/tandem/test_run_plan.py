"""`tandem run`'s plan: which seeds, and run group ids that sort by time."""

from __future__ import annotations

import pytest

from tandem.run_plan import default_report_path, run_group_id, seed_values


@pytest.mark.parametrize(
    ("count", "expected"),
    [(None, [0, 1, 2]), (1, [0]), (3, [0, 1, 2]), (5, [0, 1, 2, 3, 4])],
)
def test_seeds_come_from_the_spec_then_continue(count, expected):
    assert seed_values([0, 1, 2], count) == expected


def test_extra_seeds_skip_the_ones_the_spec_lists():
    assert seed_values([7, 3], 4) == [7, 3, 8, 9]


def test_run_group_ids_are_unique_and_start_with_the_utc_time():
    first, second = run_group_id(), run_group_id()
    assert first != second
    assert first[:8].isdigit() and first[8] == "T" and first[15] == "Z"


def test_the_default_report_lives_under_the_output_dir(tmp_path):
    path = default_report_path(tmp_path, "tandem-penguins")
    assert path == tmp_path / "reports" / "tandem-penguins.html"
