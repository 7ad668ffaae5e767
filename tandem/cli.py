"""The `tandem` command line: one command per job, each a thin wrapper over a plain function."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from components.common.errors import TandemError
from components.common.frameworks import NAMES, PYTORCH, TENSORFLOW, by_name
from components.common.tracking import experiment_name
from components.register.requests import DEFAULT_MAX_BATCH_ROWS
from components.spec import Task, load_spec, spec_location, spec_to_yaml
from tandem.cli_common import (
    Framework,
    OutputDirOption,
    SpecOption,
    VerboseOption,
    console,
    print_section,
    summary,
)
from tandem.custom_pair import check_custom_pair
from tandem.deploy import commands as deploy_commands
from tandem.interrupts import stopped_cleanly
from tandem.output_lock import output_lock
from tandem.run_plan import RunProgress, default_report_path, run_group_id, seed_values
from tandem.stack import commands as stack_commands
from tandem.step_logs import StepLogs

app = typer.Typer(
    help=(
        "tandem runs a TFX (TensorFlow) pipeline and a KFP v2 + TorchX + Lightning (PyTorch) "
        "pipeline on one data snapshot, judges both with one evaluator and tracks both in MLflow."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
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
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="A CSV or Parquet file, an archive.zip#member.csv, or package://pkg/path.",
        ),
    ],
    label: Annotated[str, typer.Option("--label", help="The column to predict.")],
    id_column: Annotated[
        str | None, typer.Option("--id", help="A unique row id column, if the table has one.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Spec name (default: from the file name).")
    ] = None,
    task: Annotated[
        Task | None,
        typer.Option(
            "--task",
            help="classification or regression (default: inferred from the label, and said why).",
        ),
    ] = None,
) -> None:
    """Infer a dataset spec from a table and print it as YAML (redirect it to spec.yaml); what
    it decided (a missing header, the task, a text or image/series feature and its model family,
    each ignored column) and why goes to stderr."""
    from components.spec.infer import infer_spec

    spec = infer_spec(
        data,
        label=label,
        id_column=id_column,
        name=name,
        task=task,
        explain=lambda line: print(line, file=sys.stderr),
    )
    sys.stdout.write(spec_to_yaml(spec))


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

    print_section(
        "ingest",
        [
            *_snapshot_rows(result.snapshot_dir, result.manifest),
            ("cache", "hit (reused the published snapshot)" if result.cache_hit else "miss"),
            ("MLflow", f"{tracking_uri(output_dir)} run {result.mlflow_run_id}"),
        ],
    )


def _print_logs(logs: StepLogs) -> None:
    """Where the libraries' output went (nothing when it streamed, --verbose)."""
    if logs.files:
        print_section(
            "logs",
            [("folder", str(logs.folder)), ("files", ", ".join(path.name for path in logs.files))],
        )


def _run_tensorflow(loaded, output_dir: Path, options: RunOptions, seed: int, report):
    from pipelines.tfx.local_runner import run_local

    return run_local(
        loaded,
        output_dir,
        snapshot_dir=options.snapshot_dir,
        beam_args=options.beam_args,
        enable_cache=options.cache,
        report=report,
        seed=seed,
        tags=options.tags,
    )


def _run_pytorch(loaded, output_dir: Path, options: RunOptions, seed: int, report):
    """kfp.local has no step cache, and its ingest step takes Beam options from the spec only
    (it finds the snapshot ingested before and reuses it). kfp.local logs every step to stdout:
    they go to stderr, stdout keeps the summary."""
    from pipelines.torch.local_runner import run_local

    with contextlib.redirect_stdout(sys.stderr):
        return run_local(loaded, output_dir, report=report, seed=seed, tags=options.tags)


@dataclass(frozen=True)
class RunOptions:
    snapshot_dir: Path | None
    beam_args: list[str]
    cache: bool
    tags: dict[str, str]


PIPELINES = {TENSORFLOW.name: _run_tensorflow, PYTORCH.name: _run_pytorch}


def _close_runs(output_dir: Path) -> int:
    """After an interrupt: close the store's runs left RUNNING by this process or by the child
    processes just stopped; how many were closed (none when there is no store yet)."""
    from mlflow.tracking import MlflowClient

    from components.common.run_owner import close_orphan_runs
    from components.common.tracking import SQLITE_FILE, TRACKING_URI_ENV, tracking_uri

    if not os.environ.get(TRACKING_URI_ENV) and not (Path(output_dir) / SQLITE_FILE).exists():
        return 0
    client = MlflowClient(tracking_uri(output_dir))
    closing = f"the interrupted tandem process {os.getpid()}"
    return len(close_orphan_runs(client, closing=closing, mine=True))


def _stopped(line: str) -> None:
    console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)


def exclusive(command: str):
    """The command holds its --output-dir's lock for its whole run (`tandem.output_lock`), and
    SIGTERM or Ctrl-C stops it cleanly (`tandem.interrupts`)."""

    def decorate(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            output_dir = kwargs["output_dir"]
            with (
                output_lock(output_dir, command),
                stopped_cleanly(lambda: _close_runs(output_dir), _stopped),
            ):
                return function(*args, **kwargs)

        return guarded

    return decorate


@app.command()
@exclusive("ingest")
def ingest(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    beam_arg: BeamArgOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Validate, split and snapshot the spec's data (Apache Beam); bad rows go to quarantine.
    Holds <output-dir>/.tandem.lock while it runs, as `tandem run` does."""
    from components.ingest.run import run_ingest

    loaded = load_spec(spec_location(spec))
    logs = StepLogs(output_dir, run_group_id(), console, summary, verbose)
    with console.status("ingest: starting", spinner="dots") as status, logs.step("ingest"):
        result = run_ingest(
            loaded,
            output_dir,
            beam_arg or [],
            report=lambda message: status.update(f"ingest: {message}"),
        )
    _print_ingest(result, output_dir)
    _print_logs(logs)


def _print_custom_pair(counts: dict[str, int]) -> None:
    """The checked builders' parameter counts; a warning when the audit will flag them."""
    from components.compare.fairness import PARAMETER_COUNT_TOLERANCE, relative_spread

    if not counts:
        return
    shown = ", ".join(f"{by_name(name).label} {count:,}" for name, count in counts.items())
    console.print(f"custom model pair checked; trainable parameters: {shown}", highlight=False)
    spread = relative_spread(list(counts.values()))
    if spread > PARAMETER_COUNT_TOLERANCE:
        console.print(
            f"[yellow]warning:[/] the two networks' sizes differ by {spread:.1%} "
            f"(> {PARAMETER_COUNT_TOLERANCE:.0%}): the fairness audit will flag the comparison",
            highlight=False,
        )


# The one quality figure the run table shows per task.
RUN_TABLE_METRIC = {"classification": "accuracy", "regression": "rmse"}


def _print_runs(results: list[tuple[str, int, object]], task: str) -> None:
    table = Table(title="pipeline runs", title_justify="left", title_style="bold")
    metric = RUN_TABLE_METRIC[task]
    for column in ("framework", "seed", "blessed", metric, "version", "wall", "MLflow run"):
        table.add_column(column, no_wrap=True)
    for name, seed, result in results:
        value = result.blessing["metrics"].get(metric)
        table.add_row(
            name,
            str(seed),
            "yes" if result.blessed else "no",
            "-" if value is None else f"{value:.3f}",
            result.model_version or "-",
            f"{result.pipeline_wall_s:.1f} s",
            result.mlflow_run_id[:12],
        )
    Console(highlight=False, width=100).print(table)


@app.command()
@exclusive("run")
def run(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    beam_arg: BeamArgOption = None,
    framework: Annotated[
        list[Framework] | None,
        typer.Option(help="Run only this framework's pipeline (repeatable; default: all)."),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            min=1,
            help="Train and evaluate for this many seeds (default: the spec's seed list).",
            show_default=False,
        ),
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Reuse cached pipeline steps whose inputs did not change.")
    ] = True,
    compare_runs: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Write the comparison report after.")
    ] = True,
    allow_unfair: AllowUnfairOption = False,
    verbose: VerboseOption = False,
) -> None:
    """The main job on the spec (default: penguins): ingest once, then each framework's pipeline
    on that snapshot for every seed, each under its own MLflow parent run, then the comparison
    report and its verdict (`tandem compare`) when both frameworks ran; exits 3 when the
    fairness audit fails. The libraries' output goes to one log per step in
    <output-dir>/run-logs/<run group>/ (--verbose streams it instead). One command at a time
    per output folder: it holds <output-dir>/.tandem.lock (a second `tandem run` or `tandem
    ingest` there refuses at once). SIGTERM or Ctrl-C stops its child processes and closes its
    MLflow runs as KILLED (exit 128 + the signal); rerun the same command to resume."""
    from components.common.tracking import TAG_RUN_GROUP
    from components.ingest.run import run_ingest

    loaded = load_spec(spec_location(spec))
    chosen = framework or list(Framework)
    _print_custom_pair(check_custom_pair(loaded, [name.value for name in chosen]))
    seed_list = seed_values(loaded.spec.training.seeds, seeds)
    group = run_group_id()
    logs = StepLogs(output_dir, group, console, summary, verbose)
    plan = [(seed, name) for seed in seed_list for name in chosen]
    results = []
    with RunProgress(console, Path(output_dir), group, len(plan)) as progress:
        with logs.step("ingest"):
            ingested = run_ingest(
                loaded, output_dir, beam_arg or [], report=lambda m: progress.stage("ingest", m)
            )
        options = RunOptions(ingested.snapshot_dir, beam_arg or [], cache, {TAG_RUN_GROUP: group})
        for seed, name in plan:
            progress.start_run(f"{name} seed {seed}")
            report = functools.partial(progress.stage, name)
            with logs.step(f"{name}-seed{seed}"):
                result = PIPELINES[name](loaded, output_dir, options, seed, report)
            results.append((name.value, seed, result))
            progress.finish_run()
    print_section("snapshot", _snapshot_rows(ingested.snapshot_dir, ingested.manifest))
    _print_runs(results, loaded.spec.dataset.task)
    if compare_runs and set(chosen) == set(Framework):
        with logs.step("compare"):
            comparison = _compare(output_dir, experiment_name(loaded.spec.name), None, group)
        _print_logs(logs)
        _conclude(comparison, allow_unfair)
    else:
        _print_logs(logs)


def _compare(output_dir: Path, experiment: str, output: Path | None, group: str | None):
    """Build, write and log the comparison and print where it went; the caller prints its
    verdict (`_conclude`) after the step logs."""
    from components.common.tracking import tracking_uri
    from components.compare.report import build_comparison, log_report, write_report

    uri = tracking_uri(output_dir)
    with console.status("compare: reading the runs from MLflow", spinner="dots") as status:
        comparison = build_comparison(uri, experiment, group)
        status.update("compare: writing the report")
        files = write_report(comparison, output or default_report_path(output_dir, experiment))
        run_id = log_report(comparison, files)
    failed = [item.name for item in comparison.audit if not item.passed]
    seeds = {fw: len(comparison.runs_of(fw)) for fw in NAMES}
    print_section(
        "comparison",
        [
            ("runs", ", ".join(f"{fw} {n} seeds" for fw, n in seeds.items())),
            ("test rows", str(comparison.test_rows)),
            ("fairness audit", "passed" if not failed else "FAILED: " + "; ".join(failed)),
            ("MLflow", f"{uri} run {run_id}"),
            ("report", str(files.html)),
        ],
    )
    return comparison


def _print_verdict(lines) -> None:
    """The verdict, a paragraph a sentence, wrapped and indented like a section's rows; an audit
    failure first, in red."""
    summary.print("[bold]verdict[/]")
    for line in lines:
        wrapped = textwrap.fill(
            line.text, width=summary.width, initial_indent="  ", subsequent_indent="  "
        )
        summary.print(Text(wrapped, style="bold red" if line.topic == "audit" else ""))


# `tandem run` and `tandem compare` exit with this status when the fairness audit failed (the
# report is written all the same), unless --allow-unfair; a TandemError exits 2.
UNFAIR_EXIT_CODE = 3
AllowUnfairOption = Annotated[
    bool,
    typer.Option(
        "--allow-unfair",
        help=f"Exit 0 even when the fairness audit fails (default: exit {UNFAIR_EXIT_CODE}).",
    ),
]


def _conclude(comparison, allow_unfair: bool) -> None:
    """The verdict last; exit UNFAIR_EXIT_CODE when the audit failed, unless allowed."""
    _print_verdict(comparison.verdict)
    if comparison.audit_passed or allow_unfair:
        return
    console.print(
        f"[bold red]unfair comparison:[/] the fairness audit failed; exit status "
        f"{UNFAIR_EXIT_CODE} (pass --allow-unfair to accept it)",
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(UNFAIR_EXIT_CODE)


@app.command()
def compare(
    spec: SpecOption = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    experiment: Annotated[
        str | None,
        typer.Option(help="MLflow experiment (default: the spec's, tandem-<spec name>)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            help="The HTML report (default: <output-dir>/reports/<experiment>.html); plots go "
            "to <name>-plots/ beside it.",
            show_default=False,
        ),
    ] = None,
    run_group: Annotated[
        str | None,
        typer.Option(help="Compare this `tandem run`'s runs (default: each framework's newest)."),
    ] = None,
    allow_unfair: AllowUnfairOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Compare the frameworks' runs, read from MLflow: an HTML report (the verdict; paired
    bootstrap intervals and tests on the test rows, cost ratios, plots, fairness audit), also
    logged to MLflow as a `compare` run. Exits 3 when the fairness audit fails."""
    if experiment is None:
        experiment = experiment_name(load_spec(spec_location(spec)).spec.name)
    logs = StepLogs(output_dir, run_group_id(), console, summary, verbose)
    with logs.step("compare"):
        comparison = _compare(output_dir, experiment, output, run_group)
    _print_logs(logs)
    _conclude(comparison, allow_unfair)


@app.command()
def tensorboard(
    output_dir: OutputDirOption = Path("tandem-runs"),
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 6006,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "localhost",
) -> None:
    """Serve TensorBoard on the shared log root: both frameworks' runs side by side
    (<output-dir>/logs/tensorflow/<run>, <output-dir>/logs/pytorch/<run>)."""
    from components.common.tracking import LOG_ROOT_DIR

    log_root = Path(output_dir).resolve() / LOG_ROOT_DIR
    if not log_root.is_dir():
        raise TandemError(f"{log_root}: no TensorBoard logs yet; run `tandem run` first")
    console.print(f"TensorBoard on http://{host}:{port}/ for {log_root} (Ctrl-C stops it)")
    sys.stdout.flush()
    # TensorBoard replaces this process (no child left behind): a SIGTERM from a supervisor
    # stops the server itself, where a child would outlive its killed parent.
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_root)]
    os.execv(sys.executable, [*command, "--port", str(port), "--host", host])


@app.command()
def serve(
    framework: Annotated[Framework, typer.Option(help="Serve this framework's model.")],
    spec: SpecOption = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Registered model name (default: <spec name>-<framework>).",
            show_default=False,
        ),
    ] = None,
    output_dir: OutputDirOption = Path("tandem-runs"),
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    alias: Annotated[str, typer.Option(help="Serve the version holding this alias.")] = "champion",
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    max_batch_rows: Annotated[
        int, typer.Option(min=1, help="Refuse (400) a request with more rows than this.")
    ] = DEFAULT_MAX_BATCH_ROWS,
) -> None:
    """Serve a registered model (the champion) with MLflow's scoring server: POST raw feature
    rows to /invocations, get `prob_<class>` columns (or `prediction`) back. A request the
    model cannot score (a missing column, a wrong type, an unknown category, too many rows)
    gets 400 and a message naming the problem."""
    from tandem import serve as serving

    if model is None:
        model = by_name(framework.value).registered_model_name(
            load_spec(spec_location(spec)).spec.name
        )
    served = serving.resolve(model, alias, serving.store_uri(output_dir))
    serving.check_port(host, port)
    console.print(
        f"serving {served.name} version {served.version} (@{served.alias}) from {served.store} "
        f"on http://{host}:{port}/invocations (Ctrl-C stops it); try:",
        highlight=False,
        soft_wrap=True,
    )
    summary.print(serving.example_curl(host, port, served))
    sys.stdout.flush()
    sys.stderr.flush()
    serving.serve(served, host, port, workers, max_batch_rows)


app.command("compile")(deploy_commands.compile_command)
app.command()(deploy_commands.submit)
app.command()(deploy_commands.schedule)
app.command()(stack_commands.up)
app.command()(stack_commands.down)


def main() -> None:
    """Entry point: a TandemError becomes one red line on stderr and exit code 2. MLflow's
    per-download progress bars (the comparison reads a few small artifacts per run) would
    interleave with tandem's own progress, so they are off unless the user sets them."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        app()
    except TandemError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
