"""Resource figures every step reports the same way.

A step's peak memory is the peak resident set size of its process *during the step*: on Linux a
step calls `reset_peak_rss()` when it starts (writing 5 to /proc/self/clear_refs resets the
kernel's high-water mark, VmHWM) and `peak_rss_mb()` when it ends. Without the reset, a step that
shares its process with others (TFX's LocalDagRunner runs every component in one process) would
report the whole pipeline's peak. Elsewhere (no /proc) both fall back to getrusage's lifetime peak.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK = "5"


def reset_peak_rss() -> bool:
    """Start a new peak-memory window for this process; False when the OS does not allow it."""
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK)
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """This process's peak resident set size since the last reset (else its lifetime), in MiB."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
