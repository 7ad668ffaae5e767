"""How many processes train, read from the environment the launcher (torchrun, TorchX) sets.

The trainer does not know its orchestrator: torchrun sets LOCAL_WORLD_SIZE (processes on this
node), GROUP_WORLD_SIZE (nodes; TorchX's dist.torchrun runs torchrun), WORLD_SIZE and RANK.
Lightning Fabric under torchrun spawns nothing itself, but it needs `devices` and `num_nodes` to
match the world size, or it fails with "devices=1 ... does not match the world size".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from components.common.errors import TandemError


@dataclass(frozen=True)
class Topology:
    devices: int
    num_nodes: int
    global_rank: int
    gpu: bool

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def accelerator(self) -> str:
        return "gpu" if self.gpu else "cpu"

    @property
    def backend(self) -> str:
        return "nccl" if self.gpu else "gloo"


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise TandemError(f"environment variable {name}={value!r} is not an integer") from None


def topology_from_env(env: Mapping[str, str] | None = None, gpu: bool | None = None) -> Topology:
    """Processes per node, nodes and this process's rank; one process when nothing is set."""
    env = os.environ if env is None else env
    if gpu is None:
        import torch

        gpu = torch.cuda.is_available()
    local = _int(env, "LOCAL_WORLD_SIZE") or 1
    world = _int(env, "WORLD_SIZE")
    nodes = _int(env, "GROUP_WORLD_SIZE")
    if nodes is None:
        nodes = world // local if world else 1
    if world is not None and world != local * nodes:
        raise TandemError(
            f"WORLD_SIZE={world} is not LOCAL_WORLD_SIZE={local} x {nodes} nodes: "
            "launch with the same number of processes on every node"
        )
    return Topology(devices=local, num_nodes=nodes, global_rank=_int(env, "RANK") or 0, gpu=gpu)
