"""The trainer's one checkpoint, `last.ckpt`: the weights, the optimizer and the epochs done.

Written after every epoch with Fabric's `save` (global rank 0 writes, every rank waits) to a
temporary name and renamed over `last.ckpt`, so a process killed while saving leaves the previous
epoch's checkpoint whole. Every rank loads it to resume: the epochs done are the epoch training
starts at, so nothing finished is replayed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch

LAST_CHECKPOINT = "last.ckpt"
EPOCHS_DONE = "epochs_done"
_WRITING = LAST_CHECKPOINT + ".partial"


def save_checkpoint(fabric, checkpoint_dir: Path, model, optimizer, epochs_done: int) -> None:
    partial = checkpoint_dir / _WRITING
    fabric.save(partial, {"model": model, "optimizer": optimizer, EPOCHS_DONE: epochs_done})
    if fabric.is_global_zero:
        os.replace(partial, checkpoint_dir / LAST_CHECKPOINT)
    fabric.barrier()


def resume(fabric, checkpoint_dir: Path, model, optimizer) -> int | None:
    """Load `last.ckpt` into the model and optimizer; the epochs it had done, None without one."""
    last = checkpoint_dir / LAST_CHECKPOINT
    if not last.is_file():
        return None
    remainder = fabric.load(last, {"model": model, "optimizer": optimizer})
    return int(remainder[EPOCHS_DONE])


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A digest of a state_dict's tensors (keys sorted): equal digests, equal parameters."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
