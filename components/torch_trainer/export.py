"""Write a trained classifier in the exported-model contract (components.export)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from components.export import (
    ENCODING_FILE,
    PT2_FILE,
    TORCHSCRIPT_FILE,
    encoding_document,
)

# An example batch of 1 would specialise the batch dimension to a constant; the values do not
# matter to an MLP's trace, only the shape.
EXAMPLE_ROWS = 8


def export_model(module: nn.Module, n_inputs: int, manifest: dict, out_dir: Path) -> Path:
    """module maps float32 [batch, n_inputs] to probabilities; writes the three contract files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(EXAMPLE_ROWS, n_inputs)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out_dir / PT2_FILE))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
        torch.jit.script(module).save(str(out_dir / TORCHSCRIPT_FILE))
    (out_dir / ENCODING_FILE).write_text(json.dumps(encoding_document(manifest), indent=2))
    return out_dir
