"""Render a local HTML file in headless Chromium: a screenshot and the DOM after rendering.

Chromium is part of the test environment (`make setup` installs Debian's package): when it is
missing, a test that needs it fails with that instruction rather than skipping, so a green run
always means the browser tests ran.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "chromium"
WINDOW_SIZE = (1280, 4000)
TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Rendered:
    screenshot: Path
    dom: str


def chromium() -> str:
    """The Chromium executable; fails the calling test when it is not installed."""
    path = shutil.which(CHROMIUM)
    if path is None:
        pytest.fail(f"{CHROMIUM} is not on PATH: run make setup (scripts/setup_env.sh installs it)")
    return path


def render(html: Path, screenshot: Path, timeout_s: float = TIMEOUT_S) -> Rendered:
    """Screenshot `html` (a local file) to `screenshot` (PNG) and return it with the DOM."""
    html = Path(html).resolve()
    if not html.is_file():
        pytest.fail(f"no HTML file to render at {html}")
    url = html.as_uri()
    screenshot = Path(screenshot).resolve()
    screenshot.unlink(missing_ok=True)
    _run([f"--screenshot={screenshot}", url], timeout_s)
    if not screenshot.is_file() or screenshot.stat().st_size == 0:
        pytest.fail(f"{CHROMIUM} wrote no screenshot of {url} to {screenshot}")
    dom = _run(["--dump-dom", url], timeout_s)
    if "<html" not in dom:
        pytest.fail(f"{CHROMIUM} dumped no DOM for {url}: {dom[:500]!r}")
    return Rendered(screenshot=screenshot, dom=dom)


def _run(arguments: list[str], timeout_s: float) -> str:
    """One headless Chromium call in a throwaway profile; its stdout."""
    width, height = WINDOW_SIZE
    with tempfile.TemporaryDirectory(prefix="tandem-chromium-") as profile:
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",  # tests run as root here; Chromium refuses to sandbox as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *arguments,
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{CHROMIUM} did not finish within {timeout_s:.0f} s: {' '.join(command)}")
    if result.returncode != 0:
        pytest.fail(
            f"{CHROMIUM} exited with {result.returncode}: {' '.join(command)}\n"
            f"{result.stderr[-2000:]}"
        )
    return result.stdout
