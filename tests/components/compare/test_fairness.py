"""The fairness audit passes a like-for-like pair and flags each kind of unfairness."""

from __future__ import annotations

import copy

import pytest

from components.compare.fairness import audit
from tests.components.compare.runs import HARDWARE, PROBE, fair_pair, pipeline_run


def probes_all_equal(run_id: str) -> dict:
    return copy.deepcopy(PROBE)


def failed(runs, load_probe=probes_all_equal) -> set[str]:
    return {item.name for item in audit(runs, load_probe) if not item.passed}


def test_a_like_for_like_pair_passes_every_item():
    items = audit(fair_pair(), probes_all_equal)
    assert [item.name for item in items if not item.passed] == []
    assert len(items) == 8


def test_different_hidden_sizes_are_flagged():
    runs = [pipeline_run("tensorflow", seed) for seed in (0, 1, 2)] + [
        pipeline_run("pytorch", seed, hidden_sizes=(64, 32), parameter_count=2947)
        for seed in (0, 1, 2)
    ]
    assert failed(runs) == {
        "Parameter counts within 5%",
        "Same architecture, optimizer, batch size and epochs",
    }
    (item,) = [i for i in audit(runs, probes_all_equal) if i.name.startswith("Parameter")]
    assert item.values == {"tensorflow": "323", "pytorch": "2947"}
    assert "89.0%" in item.detail


def test_parameter_counts_within_five_percent_pass():
    runs = [
        pipeline_run("tensorflow", 0, parameter_count=1000),
        pipeline_run("pytorch", 0, parameter_count=1040),
    ]
    assert "Parameter counts within 5%" not in failed(runs)


CUSTOM = "custom(tensorflow=nets.keras_net:build, pytorch=nets.torch_net:build, width=32)"


def custom_pair(tensorflow_count: int, pytorch_count: int) -> list:
    """A custom pair: both train runs log the spec's one `model` line, each its own count."""
    return [
        pipeline_run(framework, seed, parameter_count=count, model=CUSTOM)
        for framework, count in (("tensorflow", tensorflow_count), ("pytorch", pytorch_count))
        for seed in (0, 1, 2)
    ]


def test_a_custom_pair_of_equal_size_passes_every_item():
    """The two builder paths differ but sit in one `model` line both runs log: not flagged."""
    items = audit(custom_pair(739, 739), probes_all_equal)
    assert [item.name for item in items if not item.passed] == []
    (counts,) = [i for i in items if i.name == "Parameter counts within 5%"]
    assert counts.values == {"tensorflow": "739", "pytorch": "739"}


@pytest.mark.parametrize(("pytorch_count", "flagged"), [(760, False), (780, True), (700, True)])
def test_a_custom_pair_more_than_five_percent_apart_is_flagged(pytorch_count, flagged):
    """739 vs 760 is 2.8% apart, vs 780 5.3% (of the larger), vs 700 5.3%."""
    runs = custom_pair(739, pytorch_count)
    assert failed(runs) == ({"Parameter counts within 5%"} if flagged else set())
    (counts,) = [i for i in audit(runs, probes_all_equal) if i.name.startswith("Parameter")]
    assert counts.values == {"tensorflow": "739", "pytorch": str(pytorch_count)}
    assert ("the models differ in size" in counts.detail) == flagged


@pytest.mark.parametrize(
    ("changed", "item"),
    [
        (dict(fingerprint="cd" * 32), "Same dataset snapshot"),
        (dict(train_examples=246.0), "Same splits"),
        (dict(hardware={**HARDWARE, "cpus": "8"}), "Same hardware"),
        (dict(model="resnet(d_main=64)"), "Same architecture, optimizer, batch size and epochs"),
    ],
)
def test_each_difference_fails_its_item(changed, item):
    runs = [*fair_pair(seeds=(0, 1))[:-1], pipeline_run("pytorch", 1, **changed)]
    assert failed(runs) == {item}


def test_different_seed_sets_fail():
    runs = [*fair_pair(seeds=(0, 1)), pipeline_run("pytorch", 2)]
    assert failed(runs) == {"Same seed set"}


def test_an_encoding_difference_fails_normalisation():
    def load_probe(run_id: str) -> dict:
        probe = copy.deepcopy(PROBE)
        if "pytorch" in run_id:
            probe["inputs"][0][0] += 0.01  # a mean or std a little off
        return probe

    assert failed(fair_pair(), load_probe) == {"Same normalisation"}


@pytest.mark.parametrize("differ", [False, True], ids=["same ids", "one id differs"])
def test_text_probes_compare_token_ids(differ):
    text_probe = {
        "kind": "text",
        "ids": ["r1", "r2"],
        "names": ["text[0]", "text[1]", "text[2]"],
        "inputs": [[2, 57, 0], [2, 1, 9]],
    }

    def load_probe(run_id: str) -> dict:
        probe = copy.deepcopy(text_probe)
        if differ and "pytorch" in run_id:
            probe["inputs"][1][2] = 10  # one word piece tokenized otherwise
        return probe

    (item,) = [i for i in audit(fair_pair(), load_probe) if i.name == "Same normalisation"]
    assert item.passed is not differ
    expected = "different token ids" if differ else "the same token ids"
    assert expected in item.detail


def test_a_missing_probe_fails_normalisation():
    assert failed(fair_pair(), lambda run_id: None) == {"Same normalisation"}


def test_probes_of_different_rows_fail_normalisation():
    def load_probe(run_id: str) -> dict:
        probe = copy.deepcopy(PROBE)
        if "pytorch" in run_id:
            probe["ids"] = ["r9", "r2"]
        return probe

    assert failed(fair_pair(), load_probe) == {"Same normalisation"}
