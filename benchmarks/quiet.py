"""Keep the pipelines' own chatter (TFX/absl logs, kfp.local's echo of every step's output) off
the terminal while a benchmark's progress display runs."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    from absl import logging as absl_logging  # TensorFlow's and TFX's logger

    root = logging.getLogger()
    level, absl_level = root.level, absl_logging.get_verbosity()
    root.setLevel(logging.ERROR)
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        with (
            open(os.devnull, "w") as devnull,
            contextlib.redirect_stdout(devnull),
            contextlib.redirect_stderr(devnull),
        ):
            yield
    finally:
        root.setLevel(level)
        absl_logging.set_verbosity(absl_level)
