"""What the `tandem` commands share: the consoles, common options, the framework choice and
the key/value section printer."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from components.common.frameworks import NAMES
from components.spec import DEFAULT_SPEC, bundled_specs

console = Console(stderr=True)
# The summary sections: stdout, so a script can read them apart from the live display.
summary = Console(soft_wrap=True, highlight=False)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help=f"Spec YAML, or a bundled spec's name: {', '.join(bundled_specs())} "
        f"(default: {DEFAULT_SPEC}).",
        show_default=False,
    ),
]
OutputDirOption = Annotated[
    Path, typer.Option("--output-dir", help="Where snapshots and the embedded MLflow store go.")
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Stream every library's output here instead of writing it to one log per step "
        "in <output-dir>/run-logs/.",
    ),
]


def print_section(title: str, rows: list[tuple[str, str]]) -> None:
    summary.print(f"[bold]{title}[/]")
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        summary.print(f"  [cyan]{key.ljust(width)}[/]  {value}")


# The --framework choice: Typer lists an Enum's values.
Framework = StrEnum("Framework", {name: name for name in NAMES})
