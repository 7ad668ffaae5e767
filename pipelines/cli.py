"""The `tandem` command line: one command per job, each a thin wrapper over a plain function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from components.common.errors import TandemError
from components.common.spec import default_spec_path, load_spec, spec_to_yaml

app = typer.Typer(
    help=(
        "tandem runs a TFX (TensorFlow) pipeline and a KFP v2 + TorchX + Lightning (PyTorch) "
        "pipeline on one data snapshot, judges both with one evaluator and tracks both in MLflow."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec", help="Spec YAML (default: the bundled penguins spec).", show_default=False
    ),
]
OutputDirOption = Annotated[
    Path, typer.Option("--output-dir", help="Where snapshots and the embedded MLflow store go.")
]
BeamArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--beam-arg",
        help="A Beam pipeline option for ingest, repeatable, e.g. --beam-arg=--runner=FlinkRunner.",
        show_default=False,
    ),
]


@app.command("init-spec")
def init_spec(
    data: Annotated[Path, typer.Option("--data", help="A CSV or Parquet file.")],
    label: Annotated[str, typer.Option("--label", help="The column to predict.")],
    id_column: Annotated[
        str | None, typer.Option("--id", help="A unique row id column, if the table has one.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Spec name (default: from the file name).")
    ] = None,
) -> None:
    """Infer a dataset spec from a table and print it as YAML (redirect it to spec.yaml)."""
    from components.common.spec_infer import infer_spec

    spec = infer_spec(data, label=label, id_column=id_column, name=name)
    sys.stdout.write(spec_to_yaml(spec))


def _ingest(spec: Path | None, output_dir: Path, beam_args: list[str] | None):
    from components.ingest.run import run_ingest

    loaded = load_spec(spec or default_spec_path())
    with console.status("ingest: starting", spinner="dots") as status:
        result = run_ingest(
            loaded,
            output_dir,
            beam_args or [],
            report=lambda message: status.update(f"ingest: {message}"),
        )
    _print_ingest(result, output_dir)
    return result


def _print_ingest(result, output_dir: Path) -> None:
    from components.common.tracking import tracking_uri

    counts = result.counts
    rows = [
        ("snapshot", str(result.snapshot_dir)),
        ("fingerprint", result.manifest["fingerprint"][:12]),
        ("cache", "hit (reused the published snapshot)" if result.cache_hit else "miss"),
        ("rows read", str(counts["read"])),
        ("accepted", str(counts["accepted"])),
        ("quarantined", str(counts["quarantined"])),
        *((f"  {reason}", str(n)) for reason, n in counts["quarantined_by_reason"].items()),
        ("splits", ", ".join(f"{name} {n}" for name, n in counts["splits"].items())),
        ("MLflow", f"{tracking_uri(output_dir)} run {result.mlflow_run_id}"),
    ]
    out = Console(soft_wrap=True, highlight=False)
    out.print("[bold]ingest[/]")
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        out.print(f"  [cyan]{key.ljust(width)}[/]  {value}")


@app.command()
def ingest(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    beam_arg: BeamArgOption = None,
) -> None:
    """Validate, split and snapshot the spec's data (Apache Beam); bad rows go to quarantine."""
    _ingest(spec, output_dir, beam_arg)


@app.command()
def run(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    beam_arg: BeamArgOption = None,
) -> None:
    """The main job on the spec (default: penguins): ingest once; pipelines and report follow."""
    _ingest(spec, output_dir, beam_arg)


def main() -> None:
    """Entry point: a TandemError becomes one red line on stderr and exit code 2."""
    try:
        app()
    except TandemError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
