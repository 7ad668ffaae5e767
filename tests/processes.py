"""What the tests that start real processes share: free ports on 127.0.0.1, the end of a log for
a failure message, and stopping a process with everything it started (the benchmarks'
`stop_group`, which the serving benchmark uses too)."""

from __future__ import annotations

import socket
from pathlib import Path

from benchmarks.launch import stop_group

__all__ = ["free_ports", "log_tail", "stop_group"]


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 now (held open together, so no repeats)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def log_tail(log: Path, characters: int = 3000) -> str:
    return log.read_text(errors="replace")[-characters:] if log.is_file() else "(no log)"
