"""Resource figures every step reports the same way.

A step's peak memory is the peak resident set size of its process *during the step*: on Linux a
step calls `reset_peak_rss()` when it starts (writing 5 to /proc/self/clear_refs sets the kernel's
high-water mark, VmHWM, to the current RSS) and `peak_rss_mb()` when it ends. Without the reset, a
step that shares its process with others (TFX's LocalDagRunner runs every component in one
process) would report the whole pipeline's peak. Even with it, the peak includes what the process
already held when the step started (TensorFlow's baseline, what earlier steps still hold), so
`reset_peak_rss()` returns that start figure (the RSS at the reset, `current_rss_mb()`): peak -
start is what the step itself added. Elsewhere (no /proc) the peak falls back to getrusage's
lifetime peak and the reset returns None: a lifetime peak has no start to subtract.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK = "5"


def reset_peak_rss() -> float | None:
    """Start a new peak-memory window for this process and return its RSS at the start, in MiB;
    None when the OS does not allow a new window (`peak_rss_mb` then reports the lifetime peak)."""
    try:
        _CLEAR_REFS.write_text(_RESET_PEAK)
    except OSError:
        return None
    return current_rss_mb()


def current_rss_mb() -> float:
    """This process's resident set size now, in MiB (VmRSS; without /proc, psutil's figure)."""
    found = _status_mb("VmRSS:")
    if found is not None:
        return found
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size since the last reset (else its lifetime), in MiB."""
    found = _status_mb("VmHWM:")
    if found is not None:
        return found
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _status_mb(field: str) -> float | None:
    """A KiB field of /proc/self/status (e.g. "VmRSS:") in MiB; None without /proc."""
    try:
        lines = _STATUS.read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) / 2**10 for line in lines if line.startswith(field)), None)
