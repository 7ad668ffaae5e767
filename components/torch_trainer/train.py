"""Train the spec's classifier on a snapshot with Lightning; export it on rank 0.

    python -m components.torch_trainer.train --spec SPEC.yaml --snapshot DIR --model-dir OUT \\
        --runs-dir RUNS [--seed N] [--checkpoint-dir DIR] [--log-root DIR]

The same command runs as one process, under torchrun, or under TorchX (which runs torchrun): the
world size comes from the environment (see `topology`). Every epoch is checkpointed to
`<checkpoint-dir>/last.ckpt`; a run started again with the same checkpoint directory resumes
from it, and rank 0 keeps logging into the same MLflow run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from components.common.errors import TandemError
from components.common.features import encode
from components.common.frameworks import PYTORCH
from components.common.input_probe import PROBE_ARTIFACT, probe_document, probe_rows
from components.common.process_exit import prepare_exit
from components.common.progress import report_epoch, report_step
from components.common.resources import peak_rss_mb, reset_peak_rss
from components.common.run_environment import describe_devices, environment_tags
from components.common.tracking import PEAK_RSS, STEP_SECONDS, training_params
from components.ingest.snapshot import require_manifest
from components.spec import LoadedSpec, load_spec
from components.torch_trainer.batching import per_process_batch

LAST_CHECKPOINT = "last.ckpt"
TENSORBOARD_DIR = PYTORCH.name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.torch_trainer.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--spec", required=True, type=Path, help="benchmark spec YAML")
    parser.add_argument("--snapshot", required=True, type=Path, help="ingest snapshot directory")
    parser.add_argument("--model-dir", required=True, type=Path, help="where the export goes")
    parser.add_argument(
        "--runs-dir",
        required=True,
        type=Path,
        help="MLflow's embedded store when MLFLOW_TRACKING_URI is unset",
    )
    parser.add_argument("--seed", type=int, help="default: the spec's first seed")
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="checkpoints and restart state (default: <model-dir>-checkpoints); shared by all "
        "nodes",
    )
    parser.add_argument(
        "--log-root", type=Path, help="TensorBoard logs go to <log-root>/pytorch/<run name>"
    )
    return parser.parse_args(argv)


def _quiet_expected_warnings() -> None:
    # Tiny in-memory tensors: worker processes would only add start-up time.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # Lightning suggests a longer epoch than its logging interval on tiny data (nothing is
    # logged per step here: the interval does not matter).
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    # The checkpoint directory also holds the restart state (MLflow run id, rank summaries).
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # Raised inside Lightning 2.6's own pytree helper with torch 2.13; nothing to change here.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def _tensorboard_without_tensorflow() -> None:
    """Make TensorBoard's event writer use its bundled TensorFlow stub.

    `tensorboard.compat.tf` imports TensorFlow whenever it is installed. The torch image has no
    TensorFlow, but here both frameworks share one environment, and the import cost rank 0
    seconds inside the train step — charged to PyTorch in the comparison. The marker module of
    TensorBoard's own no-TensorFlow build (`tensorboard.compat.notf`) selects the stub, as in the
    torch image; the event files are the same.
    """
    name = "tensorboard.compat.notf"
    sys.modules.setdefault(name, types.ModuleType(name))


def _logger(log_root: Path | None, run_name: str):
    """TensorBoard events under `<log-root>/pytorch/<run name>` (a resumed attempt appends)."""
    if log_root is None:
        return False
    _tensorboard_without_tensorflow()
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=Path(log_root) / TENSORBOARD_DIR, name=run_name, version="")


def _run_params(training, topology, seed: int, parameter_count: int) -> dict[str, object]:
    return {
        **training_params(training, seed),
        "batch_size_per_process": per_process_batch(training.batch_size, topology.world_size),
        "compile": training.compile.pytorch,
        "world_size": topology.world_size,
        "nnodes": topology.num_nodes,
        "nproc_per_node": topology.devices,
        "accelerator": topology.accelerator,
        "backend": topology.backend if topology.world_size > 1 else "none",
        "parameter_count": parameter_count,
    }


def _checkpointing(checkpoint_dir: Path):
    """One checkpoint, the latest epoch's, named last.ckpt."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    # Without a monitor the top-1 checkpoint is the latest. (Lightning 2.6 writes save_last's
    # copy only beside a top-k save: save_top_k=0 + save_last writes nothing until the end.)
    # save_on_train_epoch_end: after EpochMetrics has logged the epoch, not at the end of
    # validation. No version counter: overwritten, never last-v1.ckpt.
    return ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename=LAST_CHECKPOINT.removesuffix(".ckpt"),
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )


def _trainer(topology, max_epochs: int, callbacks: list, logger, checkpoint_dir: Path):
    import lightning as L
    from lightning.pytorch.strategies import DDPStrategy

    distributed = topology.world_size > 1
    return L.Trainer(
        accelerator=topology.accelerator,
        devices=topology.devices,
        num_nodes=topology.num_nodes,
        strategy=DDPStrategy(process_group_backend=topology.backend) if distributed else "auto",
        max_epochs=max_epochs,
        logger=logger,
        callbacks=callbacks,
        use_distributed_sampler=False,  # the data module shards (seeded per epoch)
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=checkpoint_dir,
    )


@dataclass
class _Fitted:
    """What one attempt's fit leaves for the summary and the final logging."""

    model: object
    data: object
    trainer: object
    throughput: object
    record: object
    resume_from: Path | None
    fit_s: float


def _callbacks(run, training, checkpoint_dir: Path, throughput, record) -> list:
    from components.torch_trainer.callbacks import EpochMetrics, FailOnce

    callbacks = [
        EpochMetrics(
            _epoch_sink(run, training.epochs) if run else None,
            run.logged_epochs if run else None,
        ),
        throughput,
        record,
        _checkpointing(checkpoint_dir),
    ]
    failure = FailOnce.from_env(checkpoint_dir)
    if failure is not None:
        callbacks.append(failure)
    return callbacks


def _fit(run, loaded, snapshot_dir, manifest, seed, checkpoint_dir, log_root, topology) -> _Fitted:
    """Build the data module, model and Lightning Trainer, and fit (resuming from last.ckpt when
    the checkpoint directory has one)."""
    import lightning as L
    from lightning.pytorch.utilities import rank_zero_info

    from components.torch_trainer.callbacks import ResumeRecord, Throughput
    from components.torch_trainer.data import SnapshotDataModule
    from components.torch_trainer.model import Classifier

    training = loaded.spec.training
    last = checkpoint_dir / LAST_CHECKPOINT
    resume_from = last if last.is_file() else None
    L.seed_everything(seed, workers=True, verbose=False)
    data = SnapshotDataModule(snapshot_dir, manifest, training.batch_size, seed)
    model = Classifier.from_spec(training, data.n_inputs, data.n_classes)
    if run is not None and not run.resumed:
        run.log_params(_run_params(training, topology, seed, model.parameter_count()))
        run.set_tags(environment_tags(PYTORCH.name, _accelerators()))
    throughput, record = Throughput(topology.world_size), ResumeRecord()
    callbacks = _callbacks(run, training, checkpoint_dir, throughput, record)
    logger = _logger(log_root, run.run_id if run else f"seed-{seed}")
    trainer = _trainer(topology, training.epochs, callbacks, logger, checkpoint_dir)
    if resume_from is not None:
        rank_zero_info(f"resuming from {resume_from}")
    else:
        rank_zero_info(f"no {LAST_CHECKPOINT} in {checkpoint_dir}: training from scratch")
    fit_started = time.perf_counter()
    trainer.fit(model, datamodule=data, ckpt_path=resume_from)
    fit_s = time.perf_counter() - fit_started
    if resume_from is not None:
        rank_zero_info(f"resumed at epoch {record.start_epoch}")
    return _Fitted(model, data, trainer, throughput, record, resume_from, fit_s)


def _finish_on_rank_zero(run, fitted: _Fitted, snapshot_dir, manifest, model_dir, started):
    """Rank 0: the attempt's final metrics, the export, the input probe, and step_s — from the
    start of `train` to the export written, as the TensorFlow trainer measures its step."""
    from components.torch_trainer.export import export_model
    from components.torch_trainer.run_log import TAG_RESUMED_FROM_EPOCH

    if fitted.resume_from is not None:
        run.set_tag(TAG_RESUMED_FROM_EPOCH, str(fitted.record.start_epoch))
    samples_per_s = fitted.throughput.samples_per_s()
    if samples_per_s is not None:  # trained this attempt: its final metrics, once
        run.log_metrics(
            {
                "samples_per_s": samples_per_s,
                "first_step_s": fitted.throughput.first_step_s,
                "fit_s": fitted.fit_s,
                "train_examples": float(len(fitted.data.train_set)),
                PEAK_RSS: peak_rss_mb(),
            }
        )
    export_model(fitted.model.inference_module(), fitted.data.n_inputs, manifest, model_dir)
    _log_input_probe(run, snapshot_dir, manifest)
    run.log_metrics({STEP_SECONDS: time.perf_counter() - started})
    return {"mlflow_run_id": run.run_id, "samples_per_s": samples_per_s}


def train(
    loaded: LoadedSpec,
    snapshot_dir: Path,
    model_dir: Path,
    runs_dir: Path,
    seed: int,
    checkpoint_dir: Path,
    log_root: Path | None = None,
) -> dict:
    """Train (or resume) and export; returns this process's summary (also written as
    `<checkpoint-dir>/rank-<rank>.json`)."""
    from components.torch_trainer.callbacks import state_sha256
    from components.torch_trainer.run_log import train_run
    from components.torch_trainer.topology import topology_from_env

    started = time.perf_counter()
    reset_peak_rss()
    _quiet_expected_warnings()
    topology = topology_from_env()
    if topology.is_global_zero:
        report_step("train")
    per_process_batch(loaded.spec.training.batch_size, topology.world_size)  # fail early
    manifest = require_manifest(snapshot_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tracking = (
        train_run(loaded.spec.name, runs_dir, checkpoint_dir)
        if topology.is_global_zero
        else nullcontext()
    )
    with tracking as run:
        fitted = _fit(run, loaded, snapshot_dir, manifest, seed, checkpoint_dir, log_root, topology)
        summary = {
            "rank": topology.global_rank,
            "world_size": topology.world_size,
            "resumed_from": str(fitted.resume_from) if fitted.resume_from else None,
            "start_epoch": fitted.record.start_epoch,
            "start_state_sha256": fitted.record.start_state,
            "final_state_sha256": state_sha256(fitted.model.state_dict()),
            "epochs": fitted.trainer.current_epoch,
            "parameter_count": fitted.model.parameter_count(),
        }
        if run is not None:
            summary.update(
                _finish_on_rank_zero(run, fitted, snapshot_dir, manifest, model_dir, started)
            )
    (checkpoint_dir / f"rank-{topology.global_rank}.json").write_text(json.dumps(summary, indent=2))
    return summary


def _epoch_sink(run, epochs: int):
    """Each epoch's metrics to MLflow, and the epoch to the `tandem run` progress display."""

    def sink(epoch: int, metrics: dict[str, float]) -> None:
        run.log_epoch(epoch, metrics)
        report_epoch(epoch, epochs)

    return sink


def _accelerators() -> str:
    import torch

    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return describe_devices(names)


def _log_input_probe(run, snapshot_dir: Path, manifest: dict) -> None:
    """The fairness audit's evidence: test rows as this trainer encodes them."""
    rows = probe_rows(snapshot_dir, manifest)
    run.log_dict(probe_document(rows, manifest, encode(rows, manifest)), PROBE_ARTIFACT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        loaded = load_spec(args.spec)
        seed = loaded.spec.training.seed_or_default(args.seed)
        checkpoint_dir = args.checkpoint_dir or Path(f"{args.model_dir}-checkpoints")
        train(
            loaded,
            args.snapshot,
            args.model_dir,
            args.runs_dir,
            seed,
            checkpoint_dir,
            args.log_root,
        )
    except TandemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare_exit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
