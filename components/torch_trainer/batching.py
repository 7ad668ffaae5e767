"""The spec's batch size is the global batch: N processes take batch_size / N rows a step each,
so DDP's averaged gradient is that of one process training on the spec's batch size (the same
optimisation the TensorFlow side runs). No torch here: the trainer checks it before starting."""

from __future__ import annotations

from components.common.errors import TandemError


def per_process_batch(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        raise TandemError(
            f"training.batch_size {batch_size} does not divide into {world_size} processes"
        )
    return batch_size // world_size
