"""Library versions and hardware of a training run, as MLflow tags: the comparison's fairness
audit shows them side by side (a 2x "framework" gap can be a different machine or release)."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from components.common.frameworks import by_name

TAG_PREFIX = "tandem.env."
COMMON_PACKAGES = ("mlflow", "numpy", "pyarrow")
HARDWARE_KEYS = ("cpu_model", "cpus", "memory_gib", "accelerators")


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f}"
    except OSError:
        pass
    return "unknown"


def environment_tags(framework: str, accelerators: str) -> dict[str, str]:
    """tandem.env.* tags: python, glibc, the framework's packages, CPU model, usable CPUs,
    memory and the accelerators the framework sees (e.g. "none", "2 x NVIDIA A100")."""
    facts = {
        "python": platform.python_version(),
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "unknown",
        **{
            name: _package_version(name)
            for name in (*by_name(framework).run_packages, *COMMON_PACKAGES)
        },
        "cpu_model": _cpu_model(),
        "cpus": str(len(os.sched_getaffinity(0))),
        "memory_gib": _memory_gib(),
        "accelerators": accelerators,
    }
    return {f"{TAG_PREFIX}{key}": value for key, value in facts.items()}


def describe_devices(names: list[str]) -> str:
    """ "none", or "<n> x <name>" per distinct device name."""
    if not names:
        return "none"
    return ", ".join(f"{names.count(name)} x {name}" for name in dict.fromkeys(names))
