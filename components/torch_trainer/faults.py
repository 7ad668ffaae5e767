"""Fault injection for tests: a rank that dies at the start of an epoch, once."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from components.common.errors import TandemError

FAIL_ONCE_ENV = "TANDEM_FAIL_ONCE"


class FailOnce:
    """Rank `rank` exits with status 1 at the start of epoch `epoch`, once: a marker file in
    `marker_dir` keeps the restarted run from failing again."""

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

    def at_epoch_start(self, rank: int, epoch: int) -> None:
        if rank != self.rank or epoch != self.epoch or self.marker.exists():
            return
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(f"{FAIL_ONCE_ENV}: rank {self.rank} exited at epoch {self.epoch}\n")
        print(f"{FAIL_ONCE_ENV}: rank {self.rank} exits at epoch {self.epoch}", file=sys.stderr)
        sys.stderr.flush()
        # A crash, not an exception: no teardown, as when a process is killed.
        os._exit(1)
