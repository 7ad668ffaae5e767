"""Settings read from the environment, each checked once with one clear line when it is wrong."""

from __future__ import annotations

import os

from components.common.errors import TandemError


def seconds_setting(name: str, default: float, allow_zero: bool) -> float:
    """The seconds environment variable `name` gives (`default` when unset or empty); a value
    that is not a number of seconds (negative, or 0 unless `allow_zero`) is a TandemError."""
    configured = os.environ.get(name)
    if not configured:
        return default
    try:
        seconds = float(configured)
    except ValueError:
        seconds = -1.0
    if seconds < 0 or (seconds == 0 and not allow_zero):
        expected = (
            "a number of seconds (0 or more)" if allow_zero else "a positive number of seconds"
        )
        raise TandemError(f"{name}={configured!r}: expected {expected}")
    return seconds
