"""The architecture summary each trainer logs: its network layer by layer, in one format.

Both trainers log it as the train run's `architecture.txt` (`ARTIFACT`) and the comparison report
shows the two side by side, so a reader sees what each framework actually trained — for a custom
pair, two different builders' networks. A row is a layer holding parameters or computing
something (containers are flattened into their layers): its name path, its type, its output
shape without the batch axis (`-` where the framework does not record it) and its trainable
parameters; the rows add up to the network's trainable parameter count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ARTIFACT = "architecture.txt"
UNKNOWN = "-"
HEADER = ("layer", "type", "output", "parameters")


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str
    output: str
    parameters: int


def output_shape(shape: Sequence[int | None] | None) -> str:
    """`(None, 10, 8)` → `10 x 8`: the shape without the batch axis."""
    if shape is None or len(shape) < 2:
        return UNKNOWN
    return " x ".join(UNKNOWN if size is None else str(size) for size in shape[1:])


def render(framework_label: str, model: str, layers: Iterable[Layer]) -> str:
    """A heading (framework, the spec's model line, trainable parameters) and the table."""
    layers = list(layers)
    rows = [HEADER, *((la.name, la.kind, la.output, f"{la.parameters:,}") for la in layers)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER))]
    lines = [
        f"{framework_label}: {model}",
        f"trainable parameters: {sum(layer.parameters for layer in layers):,}",
        "",
    ]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1].rjust(widths[-1])]))
    return "\n".join(lines) + "\n"
