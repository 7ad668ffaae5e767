"""The shared ingest step: check, fingerprint, then a cache hit or Beam run, reconcile, publish.

Nothing is published unless every row is accounted for (read = accepted + quarantined, and the
files on disk hold exactly the rows the pipeline counted).
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from components.common.errors import TandemError
from components.common.progress import report_step
from components.common.resources import peak_rss_mb, reset_peak_rss
from components.common.tracking import PEAK_RSS, START_RSS, rss_metrics
from components.ingest.layout import OUTPUT_DIRS, QUARANTINE, SUMMARY_FILE, snapshot_schema
from components.ingest.snapshot import (
    FORMAT_VERSION,
    MANIFEST,
    cached_manifest,
    current_snapshot_link,
    data_sha256,
    fingerprint,
    point_current,
    publish,
    require_manifest,
    snapshot_dir,
    staging_dir,
)
from components.ingest.sources import SourceFile, check_columns, inspect_source
from components.ingest.split import SPLITS
from components.ingest.statistics import finalize_statistics
from components.ingest.text_tokenizer import train_text_tokenizer
from components.spec import DatasetSpec, LoadedSpec

# Beam's DirectRunner first tries the Prism runner, which downloads a binary; the FnApiRunner is
# the same local engine without that step. in_memory was the fastest mode at penguins size.
DEFAULT_BEAM_ARGS = (
    "--runner=FnApiRunner",
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
)
# Runners Beam ships but leaves out of its list of short `--runner` names.
RUNNER_PATHS = {"DaskRunner": "apache_beam.runners.dask.dask_runner.DaskRunner"}
REJECTED_DIR = "rejected"


@dataclass
class IngestResult:
    snapshot_dir: Path
    manifest: dict
    cache_hit: bool
    mlflow_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    start_rss_mb: float | None = None

    @property
    def counts(self) -> dict:
        return self.manifest["counts"]


def _runner_path(flag: str) -> str:
    """`--runner=DaskRunner` as the dotted path Beam can load; any other flag as it is."""
    option, _, runner = flag.partition("=")
    if option == "--runner" and runner in RUNNER_PATHS:
        return f"--runner={RUNNER_PATHS[runner]}"
    return flag


def beam_flags(spec_args: Sequence[str], cli_args: Sequence[str]) -> list[str]:
    """Spec options, then CLI options (later wins); the local runner unless one is named."""
    flags = [_runner_path(flag) for flag in [*spec_args, *cli_args]]
    if not any(flag.startswith("--runner") for flag in flags):
        flags = [*DEFAULT_BEAM_ARGS, *flags]
    return flags


def _runner(flags: Sequence[str]) -> str:
    """The runner `flags` name (the last one, as Beam's parser reads them)."""
    named = [flag.partition("=")[2] for flag in flags if flag.startswith("--runner=")]
    return named[-1] if named else ""


def _run_beam(
    sources: list[SourceFile], loaded: LoadedSpec, staging: Path, flags: list[str]
) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.ingest.beam_pipeline import build_ingest

    try:
        pipeline = beam.Pipeline(options=PipelineOptions(flags))
    except (ValueError, ImportError) as exc:
        raise TandemError(f"Beam options {' '.join(flags)}: {exc}") from None
    try:
        with pipeline:
            ingest = loaded.spec.ingest
            build_ingest(
                pipeline, sources, loaded.spec.dataset, ingest.batch_rows, ingest.threads, staging
            )
    except TandemError:
        raise
    except OSError as exc:
        # The DaskRunner connects to its scheduler in run(), before there is a result.
        dask = _runner(flags) == RUNNER_PATHS["DaskRunner"]
        if dask and getattr(pipeline, "result", None) is None:
            raise TandemError(
                f"Beam options {' '.join(flags)}: {exc}; start the Dask scheduler or correct "
                "--dask_client_address"
            ) from None
        raise
    except Exception as exc:
        # Beam re-raises a step's exception with the step name appended; keep our own message.
        cause = exc
        while cause is not None and not isinstance(cause, TandemError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise TandemError(str(cause).split(" [while running")[0]) from None
        raise
    finally:
        _close_dask_client(getattr(pipeline, "result", None))
    return json.loads((staging / SUMMARY_FILE).read_text())


def _close_dask_client(result: object) -> None:
    """Beam's DaskRunner leaves its dask.distributed client connected (heartbeats, and the default
    scheduler of the process's dask calls); a process that goes on (`tandem run`, a test
    session) should not keep it."""
    client = getattr(result, "client", None)
    if client is not None:
        client.close()


def _rows_on_disk(directory: Path) -> int:
    return sum(pq.read_metadata(path).num_rows for path in directory.glob("*.parquet"))


def _reconcile(summary: dict, staging: Path, sources: list[SourceFile]) -> dict:
    read = summary["read"]
    by_reason = dict(sorted(summary["quarantined_by_reason"].items(), key=lambda kv: -kv[1]))
    quarantined = sum(by_reason.values())
    splits = {name: summary["splits"].get(name, 0) for name in SPLITS}
    accepted = sum(splits.values())
    problems = []
    if read != accepted + quarantined:
        problems.append(f"read {read} rows but accepted {accepted} + quarantined {quarantined}")
    parquet_rows = sum(s.rows for s in sources if s.format == "parquet")
    if all(s.format == "parquet" for s in sources) and parquet_rows != read:
        problems.append(f"the input files hold {parquet_rows} rows but {read} were read")
    for name in SPLITS:
        on_disk = _rows_on_disk(staging / name)
        if on_disk != splits[name]:
            problems.append(f"split {name}: counted {splits[name]} rows, wrote {on_disk}")
    if _rows_on_disk(staging / QUARANTINE) != quarantined:
        problems.append(f"quarantine: counted {quarantined} rows, wrote a different number")
    if problems:
        raise TandemError(
            "ingest reconciliation failed, nothing was published: " + "; ".join(problems)
        )
    return {
        "read": read,
        "accepted": accepted,
        "quarantined": quarantined,
        "quarantined_by_reason": by_reason,
        "splits": splits,
    }


def _describe_examples(examples: list) -> str:
    return ", ".join(f"{name} row {row}: {reason}" for _, row, name, reason in examples[:5])


def _reject_all(counts: dict, summary: dict, staging: Path, rejected: Path) -> TandemError:
    rejected.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(rejected, ignore_errors=True)
    shutil.move(str(staging / QUARANTINE), rejected)
    reasons = ", ".join(f"{r} ({n})" for r, n in list(counts["quarantined_by_reason"].items())[:3])
    return TandemError(
        f"all {counts['read']} rows were quarantined, nothing was published; most common "
        f"reasons: {reasons}; e.g. {_describe_examples(summary['quarantine_examples'])}. "
        f"The rejected rows are in {rejected}: fix the data or the spec's features."
    )


def _check_splits_not_empty(counts: dict) -> None:
    empty = [name for name, n in counts["splits"].items() if n == 0]
    if empty:
        raise TandemError(
            f"split(s) {', '.join(empty)} got no rows ({counts['accepted']} rows accepted): "
            "the data is too small for the spec's dataset.split ratios"
        )


def _train_tokenizers(
    dataset: DatasetSpec, staging: Path, report: Callable[[str], None]
) -> dict[str, dict]:
    """statistics["text"]: the text feature's tokenizer, trained on the staged train split and
    saved beside it (published with the rows)."""
    if dataset.input_kind != "text":
        return {}
    report("training the tokenizer on the train split")
    feature = dataset.tensor_feature
    return {feature.name: train_text_tokenizer(feature, staging)}


def _manifest(
    loaded: LoadedSpec,
    snapshot_fingerprint: str,
    sources: list[SourceFile],
    digests: list[tuple[str, int]],
    counts: dict,
    summary: dict,
    staging: Path,
    flags: list[str],
    text_statistics: dict,
) -> dict:
    dataset = loaded.spec.dataset
    schema = snapshot_schema(dataset)
    roles = {dataset.label: "label", schema.field(0).name: "id"}
    return {
        "format_version": FORMAT_VERSION,
        "spec_name": loaded.spec.name,
        "fingerprint": snapshot_fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": [
            {"path": str(s.file), "format": s.format, "bytes": size, "sha256": digest}
            for s, (digest, size) in zip(sources, digests, strict=True)
        ],
        "dataset_spec": dataset.model_dump(mode="json"),
        "id_column": schema.field(0).name,
        "label": dataset.label,
        "task": dataset.task,
        "classes": list(dataset.classes or []),
        "counts": counts,
        "quarantine_examples": [
            {"file": name, "row": row, "reason": reason}
            for _, row, name, reason in summary["quarantine_examples"]
        ],
        "schema": [
            {
                "name": f.name,
                "type": str(f.type),
                "role": roles.get(f.name, "feature"),
                "nullable": f.nullable,
            }
            for f in schema
        ],
        "statistics": {
            **finalize_statistics(summary["train_statistics"], dataset),
            "text": text_statistics,
        },
        "files": {
            name: sorted(str(p.relative_to(staging)) for p in (staging / name).glob("*.parquet"))
            for name in OUTPUT_DIRS
        },
        "beam_options": flags,
    }


def ingest_or_reuse(
    loaded: LoadedSpec,
    output_dir: Path,
    existing: Path | None,
    beam_args: Sequence[str] = (),
    report: Callable[[str], None] = lambda message: None,
) -> IngestResult:
    """The published snapshot at `existing` when one is given, else a run of `run_ingest`."""
    if existing is None:
        return run_ingest(loaded, output_dir, beam_args, report)
    existing = Path(existing).resolve()
    return IngestResult(existing, require_manifest(existing), cache_hit=True)


def run_ingest(
    loaded: LoadedSpec,
    output_dir: Path,
    beam_args: Sequence[str] = (),
    report: Callable[[str], None] = lambda message: None,
    track: bool = True,
) -> IngestResult:
    """Ingest the spec's data into a published snapshot under output_dir (or reuse a cached one)."""
    report_step("ingest")
    output_dir = Path(output_dir).resolve()
    dataset = loaded.spec.dataset
    files = loaded.source_files()
    sources = [
        inspect_source(i, file, loaded.data_format(file), dataset.header)
        for i, file in enumerate(files)
    ]
    for source in sources:
        check_columns(source, dataset, loaded.path)

    timings: dict[str, float] = {}
    start_rss_mb = reset_peak_rss()
    started = time.perf_counter()
    report(f"fingerprinting {len(files)} file(s)")
    digests = [data_sha256(file) for file in files]
    snapshot_fingerprint = fingerprint([digest for digest, _ in digests], dataset)
    timings["fingerprint_s"] = time.perf_counter() - started
    final = snapshot_dir(output_dir, loaded.spec.name, snapshot_fingerprint)

    manifest = cached_manifest(final, snapshot_fingerprint)
    cache_hit = manifest is not None
    if manifest is None:
        flags = beam_flags(loaded.spec.ingest.beam_args, beam_args)
        with staging_dir(final) as staging:
            report("running the Beam pipeline (validate, split, statistics)")
            beam_started = time.perf_counter()
            summary = _run_beam(sources, loaded, staging, flags)
            timings["beam_s"] = time.perf_counter() - beam_started
            counts = _reconcile(summary, staging, sources)
            if counts["accepted"] == 0:
                rejected = output_dir / REJECTED_DIR / final.name
                raise _reject_all(counts, summary, staging, rejected)
            _check_splits_not_empty(counts)
            (staging / SUMMARY_FILE).unlink()
            tokenizer_started = time.perf_counter()
            text_statistics = _train_tokenizers(dataset, staging, report)
            timings["tokenizer_s"] = time.perf_counter() - tokenizer_started
            manifest = _manifest(
                loaded,
                snapshot_fingerprint,
                sources,
                digests,
                counts,
                summary,
                staging,
                flags,
                text_statistics,
            )
            if not publish(staging, final, manifest):
                cache_hit = True
                manifest = cached_manifest(final, snapshot_fingerprint)
    point_current(current_snapshot_link(output_dir, loaded.spec.name), final)
    timings["total_s"] = time.perf_counter() - started

    memory = rss_metrics(peak_rss_mb(), start_rss_mb)
    result = IngestResult(
        final,
        manifest,
        cache_hit,
        timings=timings,
        peak_rss_mb=memory[PEAK_RSS],
        start_rss_mb=memory.get(START_RSS),
    )
    if track:
        report("logging the ingest run to MLflow")
        result.mlflow_run_id = _log_to_mlflow(loaded, output_dir, result)
    return result


def _log_to_mlflow(loaded: LoadedSpec, output_dir: Path, result: IngestResult) -> str:
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    from components.common.tracking import STEP_SECONDS, TAG_FINGERPRINT, step_run

    counts = result.counts
    fingerprint_ = result.manifest["fingerprint"]
    tags = {
        TAG_FINGERPRINT: fingerprint_,
        "tandem.cache_hit": str(result.cache_hit).lower(),
    }
    with step_run("ingest", loaded.spec.name, output_dir, tags) as run:
        mlflow.log_params(
            {
                "spec": loaded.spec.name,
                "source": loaded.spec.dataset.source,
                "split": json.dumps(loaded.spec.dataset.split.as_dict()),
                "split_seed": loaded.spec.dataset.seed,
                "snapshot": str(result.snapshot_dir),
            }
        )
        metrics = {
            STEP_SECONDS: result.timings["total_s"],
            **rss_metrics(result.peak_rss_mb, result.start_rss_mb),
            "rows_read": counts["read"],
            "rows_accepted": counts["accepted"],
            "rows_quarantined": counts["quarantined"],
            **{f"rows_{name}": n for name, n in counts["splits"].items()},
            **{
                f"quarantined.{reason.replace(':', '.')}": n
                for reason, n in counts["quarantined_by_reason"].items()
            },
        }
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(result.snapshot_dir / MANIFEST))
        with warnings.catch_warnings():
            # MLflow registers the local-file source class twice and warns about its own tie.
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
            source = resolve_dataset_source(result.snapshot_dir.as_uri())
        dataset = MetaDataset(source=source, name=loaded.spec.name, digest=fingerprint_[:12])
        mlflow.log_input(dataset, context="snapshot")
        return run.info.run_id
