"""The `tandem` command line: one command per job, each a thin wrapper over a plain function."""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
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


def _print_section(title: str, rows: list[tuple[str, str]]) -> None:
    out = Console(soft_wrap=True, highlight=False)
    out.print(f"[bold]{title}[/]")
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        out.print(f"  [cyan]{key.ljust(width)}[/]  {value}")


def _snapshot_rows(snapshot_dir: Path, manifest: dict) -> list[tuple[str, str]]:
    counts = manifest["counts"]
    return [
        ("snapshot", str(snapshot_dir)),
        ("fingerprint", manifest["fingerprint"][:12]),
        ("rows read", str(counts["read"])),
        ("accepted", str(counts["accepted"])),
        ("quarantined", str(counts["quarantined"])),
        *((f"  {reason}", str(n)) for reason, n in counts["quarantined_by_reason"].items()),
        ("splits", ", ".join(f"{name} {n}" for name, n in counts["splits"].items())),
    ]


def _print_ingest(result, output_dir: Path) -> None:
    from components.common.tracking import tracking_uri

    _print_section(
        "ingest",
        [
            *_snapshot_rows(result.snapshot_dir, result.manifest),
            ("cache", "hit (reused the published snapshot)" if result.cache_hit else "miss"),
            ("MLflow", f"{tracking_uri(output_dir)} run {result.mlflow_run_id}"),
        ],
    )


def _describe_checks(blessing: dict) -> str:
    return "; ".join(
        f"{check['metric']} {check['value']:.3f} vs {check['limit']:.3f} ({check['kind']}) "
        + ("ok" if check["passed"] else "FAILED")
        for check in blessing["checks"]
    )


def _print_pipeline(framework: str, result, spec_name: str, output_dir: Path) -> None:
    from components.common.tracking import tracking_uri
    from components.register.registry import registered_model_name

    model = registered_model_name(spec_name, framework)
    version = f"{model} version {result.model_version}" if result.model_version else "-"
    pushed = str(result.pushed_model_dir) if result.pushed_model_dir else "not pushed"
    _print_section(
        f"{framework} pipeline",
        [
            ("blessed", "yes" if result.blessed else "no"),
            ("checks", _describe_checks(result.blessing)),
            ("registered", version),
            ("pushed", pushed),
            ("evaluation", str(result.evaluation_dir)),
            ("pipeline wall", f"{result.pipeline_wall_s:.1f} s"),
            ("MLflow", f"{tracking_uri(output_dir)} parent run {result.mlflow_run_id}"),
        ],
    )


def _run_tensorflow(loaded, output_dir: Path, beam_args: list[str], cache: bool, report):
    from pipelines.tfx_runner import run_local

    return run_local(loaded, output_dir, beam_args=beam_args, enable_cache=cache, report=report)


def _run_pytorch(loaded, output_dir: Path, beam_args: list[str], cache: bool, report):
    """kfp.local has no step cache, and its ingest step takes Beam options from the spec only.
    kfp.local logs every step to stdout: they go to stderr, stdout keeps the summary."""
    from pipelines.torch_runner import run_local

    with contextlib.redirect_stdout(sys.stderr):
        return run_local(loaded, output_dir, report=report)


class Framework(StrEnum):
    tensorflow = "tensorflow"
    pytorch = "pytorch"


PIPELINES = {Framework.tensorflow: _run_tensorflow, Framework.pytorch: _run_pytorch}


@app.command()
def ingest(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    beam_arg: BeamArgOption = None,
) -> None:
    """Validate, split and snapshot the spec's data (Apache Beam); bad rows go to quarantine."""
    from components.ingest.run import run_ingest

    loaded = load_spec(spec or default_spec_path())
    with console.status("ingest: starting", spinner="dots") as status:
        result = run_ingest(
            loaded,
            output_dir,
            beam_arg or [],
            report=lambda message: status.update(f"ingest: {message}"),
        )
    _print_ingest(result, output_dir)


@app.command()
def run(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    beam_arg: BeamArgOption = None,
    framework: Annotated[
        list[Framework] | None,
        typer.Option(help="Run only this framework's pipeline (repeatable; default: all)."),
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Reuse cached pipeline steps whose inputs did not change.")
    ] = True,
) -> None:
    """The main job on the spec (default: penguins): ingest, then each framework's pipeline on
    that snapshot, each under its own MLflow parent run."""
    from components.ingest.snapshot import require_manifest

    loaded = load_spec(spec or default_spec_path())
    for index, chosen in enumerate(framework or list(Framework)):
        name = chosen.value
        with console.status(f"{name}: starting", spinner="dots") as status:
            result = PIPELINES[chosen](
                loaded,
                output_dir,
                beam_arg or [],
                cache,
                lambda message, name=name: status.update(f"{name}: {message}"),
            )
        if index == 0:
            snapshot = result.snapshot_dir
            _print_section("snapshot", _snapshot_rows(snapshot, require_manifest(snapshot)))
        _print_pipeline(name, result, loaded.spec.name, output_dir)


def main() -> None:
    """Entry point: a TandemError becomes one red line on stderr and exit code 2."""
    try:
        app()
    except TandemError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
