"""Write a trained network in the exported-model contract (components.export)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from components.common.architectures import NetworkInput
from components.common.custom_models import probe_batch
from components.export import (
    ENCODING_FILE,
    PT2_FILE,
    TORCHSCRIPT_FILE,
    encoding_document,
)


def export_model(
    module: nn.Module,
    network_input: NetworkInput,
    manifest: dict,
    out_dir: Path,
    snapshot_dir: Path,
) -> Path:
    """module maps the network input to probabilities (or predictions); writes the three
    contract files, and for a text feature the snapshot's tokenizer, which the predictor reads
    from the model directory. The traced example is the builders' probe batch: several rows (one
    would specialise the batch dimension to a constant) of the input's dtype and shape."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    example = torch.from_numpy(probe_batch(network_input))
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out_dir / PT2_FILE))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
        torch.jit.script(module).save(str(out_dir / TORCHSCRIPT_FILE))
    for info in manifest["statistics"].get("text", {}).values():
        shutil.copytree(Path(snapshot_dir) / info["tokenizer"], out_dir / info["tokenizer"])
    (out_dir / ENCODING_FILE).write_text(json.dumps(encoding_document(manifest), indent=2))
    return out_dir
