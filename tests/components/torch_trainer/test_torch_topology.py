"""World size from the launcher's environment, and the fault-injection switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.common.errors import TandemError
from components.torch_trainer.faults import FailOnce
from components.torch_trainer.topology import topology_from_env


def test_without_a_launcher_one_process_trains():
    topology = topology_from_env({}, gpu=False)
    assert (topology.devices, topology.num_nodes, topology.global_rank) == (1, 1, 0)
    assert topology.world_size == 1
    assert topology.is_global_zero


def test_torchx_environment_sets_devices_and_nodes():
    env = {"LOCAL_WORLD_SIZE": "2", "GROUP_WORLD_SIZE": "3", "WORLD_SIZE": "6", "RANK": "5"}
    topology = topology_from_env(env, gpu=False)
    assert (topology.devices, topology.num_nodes, topology.world_size) == (2, 3, 6)
    assert topology.global_rank == 5 and not topology.is_global_zero
    assert (topology.accelerator, topology.backend) == ("cpu", "gloo")


def test_nodes_follow_from_world_size_without_group_world_size():
    topology = topology_from_env({"LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "4"}, gpu=True)
    assert topology.num_nodes == 2
    assert (topology.accelerator, topology.backend) == ("gpu", "nccl")


def test_inconsistent_world_size_is_an_error():
    env = {"LOCAL_WORLD_SIZE": "2", "GROUP_WORLD_SIZE": "1", "WORLD_SIZE": "3"}
    with pytest.raises(TandemError, match="WORLD_SIZE=3"):
        topology_from_env(env, gpu=False)


def test_fail_once_parses_rank_and_epoch(tmp_path: Path):
    failure = FailOnce.from_env(tmp_path, {"TANDEM_FAIL_ONCE": "rank=1,epoch=2"})
    assert (failure.rank, failure.epoch) == (1, 2)
    assert failure.marker.parent == tmp_path
    assert FailOnce.from_env(tmp_path, {}) is None
    with pytest.raises(TandemError, match="rank=<r>,epoch=<e>"):
        FailOnce.from_env(tmp_path, {"TANDEM_FAIL_ONCE": "rank=1"})
