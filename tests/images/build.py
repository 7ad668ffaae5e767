"""`make images` for the test session, started in the background as soon as pytest knows image
tests will run (tests/conftest.py), so the build overlaps the rest of the suite; the image tests
run last and wait for it through the `built_images` fixture."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tandem.deploy.local_images import ROOT, STATE_DIR, SUMMARY
from tests.processes import log_tail, stop_group

LOG = STATE_DIR / "pytest-build.log"
BUILD_TIMEOUT_S = 40 * 60


def unavailable_reason() -> str | None:
    """Why the images cannot be built here, or None (make setup installs the tools)."""
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (make setup installs them)"
    if os.geteuid() != 0:
        return "building images needs root (mmdebstrap, buildah's chroot isolation)"
    return None


class ImageBuild:
    """One `python -m tandem.deploy.local_images` per session."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if self.process is None:
            LOG.parent.mkdir(parents=True, exist_ok=True)
            with LOG.open("w") as log:
                # At the lowest CPU priority: the suite's own tests go first, the build fills
                # their idle time (on 2 vCPUs it otherwise slows the CPU-bound tests).
                self.process = subprocess.Popen(
                    ["nice", "-n", "19", sys.executable, "-m", "tandem.deploy.local_images"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    start_new_session=True,
                )

    def references(self) -> dict[str, str]:
        """Image name → reference, once the build has finished; fails the test if it failed."""
        self.start()
        code = self.process.wait(timeout=BUILD_TIMEOUT_S)
        if code != 0:
            pytest.fail(f"make images failed (exit {code}); {LOG}:\n{log_tail(LOG)}")
        summary = json.loads(SUMMARY.read_text())
        return {image["name"]: image["reference"] for image in summary["images"]}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_group(self.process)


BUILD = ImageBuild()
