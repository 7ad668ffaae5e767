"""The last call of a pipeline step's process, right before it exits.

At exit the interpreter runs its garbage collector again over everything still alive, which in a
step that imported torch, MLflow and pandas is millions of objects: seconds spent walking objects
that are about to be freed anyway. `gc.freeze` moves them all into the collector's permanent
generation, so those final collections skip them; nothing else about the exit changes (atexit
handlers, flushing, module teardown run as before).
"""

from __future__ import annotations

import gc


def prepare_exit() -> None:
    """Call when the step's work is done and its process only writes its outputs and exits."""
    gc.freeze()
