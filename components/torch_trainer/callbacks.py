"""Lightning callbacks of the trainer: epoch metrics, throughput, resume record, fault injection.

They run on every rank: reading epoch metrics logged with sync_dist is a collective operation, so
all ranks read them at the same hook; only the rank given a sink (rank 0) passes them on.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import lightning as L
import torch

from components.common.errors import TandemError
from components.torch_trainer.model import METRICS

FAIL_ONCE_ENV = "TANDEM_FAIL_ONCE"


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A digest of a state_dict's tensors (keys sorted): equal digests, equal parameters."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class EpochMetrics(L.Callback):
    """At each epoch's end: train/val loss and accuracy to `sink(epoch, metrics)`, skipping the
    epochs in `already_logged` (an epoch replayed after a restart is not logged twice).

    Epochs are numbered from 0. It runs before ModelCheckpoint (Lightning orders checkpoint
    callbacks last), so an epoch is logged before its checkpoint is written.
    """

    def __init__(
        self,
        sink: Callable[[int, dict[str, float]], None] | None,
        already_logged: set[int] | None = None,
    ):
        self.sink = sink
        self.logged = set(already_logged or ())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        available = trainer.callback_metrics
        metrics = {name: float(available[name]) for name in METRICS if name in available}
        epoch = trainer.current_epoch
        if self.sink is not None and epoch not in self.logged:
            self.sink(epoch, metrics)
            self.logged.add(epoch)


class Throughput(L.Callback):
    """Training-step time (forward, backward, gradient all-reduce, optimizer step; not data
    loading nor validation). The first step of a process is timed apart: it includes
    torch.compile's compilation in compile mode."""

    def __init__(self, world_size: int):
        self.world_size = world_size
        self.first_step_s: float | None = None
        self.step_s = 0.0
        self.samples = 0
        self._started = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        elapsed = time.perf_counter() - self._started
        if self.first_step_s is None:
            self.first_step_s = elapsed
            return
        self.step_s += elapsed
        self.samples += len(batch[1])

    def samples_per_s(self) -> float | None:
        """All processes together (ranks step in lockstep under DDP); None before 2 steps."""
        if not self.samples or self.step_s <= 0:
            return None
        return self.samples * self.world_size / self.step_s


class ResumeRecord(L.Callback):
    """The epoch training starts at and a digest of the weights it starts from: after a resume
    they are the checkpoint's, which proves the checkpoint was loaded and used."""

    def __init__(self):
        self.start_epoch: int | None = None
        self.start_state: str | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_epoch = trainer.current_epoch
        self.start_state = state_sha256(pl_module.state_dict())


class FailOnce(L.Callback):
    """Fault injection for tests: rank `rank` exits with status 1 at the start of epoch `epoch`,
    once: a marker file in `marker_dir` keeps the restarted run from failing again."""

    def __init__(self, rank: int, epoch: int, marker_dir: Path):
        self.rank = rank
        self.epoch = epoch
        self.marker_dir = Path(marker_dir)

    @property
    def marker(self) -> Path:
        return self.marker_dir / f"failed-once-rank{self.rank}-epoch{self.epoch}"

    @classmethod
    def from_env(cls, marker_dir: Path, env: Mapping[str, str] | None = None) -> FailOnce | None:
        """From TANDEM_FAIL_ONCE="rank=<r>,epoch=<e>"; None when it is unset."""
        value = (os.environ if env is None else env).get(FAIL_ONCE_ENV)
        if not value:
            return None
        try:
            fields = dict(item.split("=", 1) for item in value.split(","))
            return cls(rank=int(fields["rank"]), epoch=int(fields["epoch"]), marker_dir=marker_dir)
        except (KeyError, ValueError):
            raise TandemError(f'{FAIL_ONCE_ENV}={value!r}: expected "rank=<r>,epoch=<e>"') from None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != self.rank or trainer.current_epoch != self.epoch:
            return
        if self.marker.exists():
            return
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(f"{FAIL_ONCE_ENV}: rank {self.rank} exited at epoch {self.epoch}\n")
        print(f"{FAIL_ONCE_ENV}: rank {self.rank} exits at epoch {self.epoch}", file=sys.stderr)
        sys.stderr.flush()
        # A crash, not an exception: no Lightning teardown, as when a process is killed.
        os._exit(1)
