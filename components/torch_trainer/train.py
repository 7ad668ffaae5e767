"""Train the spec's classifier on a snapshot with Lightning Fabric; export it on rank 0.

    python -m components.torch_trainer.train --spec SPEC.yaml --snapshot DIR --model-dir OUT \\
        --runs-dir RUNS [--seed N] [--checkpoint-dir DIR] [--log-root DIR]

The same command runs as one process, under torchrun, or under TorchX (which runs torchrun): the
world size comes from the environment (see `topology`). Every epoch is checkpointed to
`<checkpoint-dir>/last.ckpt` (see `checkpoint`); a run started again with the same checkpoint
directory resumes from it, and rank 0 keeps logging into the same MLflow run.
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

from components.common.architectures import NetworkInput
from components.common.errors import TandemError
from components.common.features import network_inputs
from components.common.frameworks import PYTORCH
from components.common.input_probe import PROBE_ARTIFACT, probe_document, probe_rows
from components.common.layer_summary import ARTIFACT as ARCHITECTURE_ARTIFACT
from components.common.process_exit import prepare_exit
from components.common.progress import report_epoch, report_step
from components.common.resources import peak_rss_mb, reset_peak_rss
from components.common.run_environment import describe_devices, environment_tags
from components.common.tracking import STEP_SECONDS, rss_metrics, training_params
from components.ingest.snapshot import require_manifest
from components.spec import LoadedSpec, load_spec
from components.torch_trainer.batching import per_process_batch

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


def _loggers(log_root: Path | None, run_name: str) -> list:
    """TensorBoard events under `<log-root>/pytorch/<run name>` (a resumed attempt appends)."""
    if log_root is None:
        return []
    _tensorboard_without_tensorflow()
    from lightning.fabric.loggers import TensorBoardLogger

    root = Path(log_root) / TENSORBOARD_DIR
    return [TensorBoardLogger(root_dir=root, name=run_name, version="", default_hp_metric=False)]


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


def _fabric(topology, loggers: list):
    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    distributed = topology.world_size > 1
    fabric = Fabric(
        accelerator=topology.accelerator,
        devices=topology.devices,
        num_nodes=topology.num_nodes,
        strategy=DDPStrategy(process_group_backend=topology.backend) if distributed else "auto",
        loggers=loggers,
    )
    fabric.launch()  # under torchrun: joins the process group, starts no process
    return fabric


@dataclass
class _Fitted:
    """What one attempt's fit leaves for the summary and the final logging."""

    network: object  # the Network, unwrapped
    train_rows: int
    throughput: object
    start_epoch: int
    start_state: str
    resume_from: Path | None
    fit_s: float


def _epoch_end(fabric, run, training, checkpoint_dir: Path, model, optimizer):
    """After each epoch, on every rank: the metrics to MLflow and TensorBoard (rank 0; an epoch
    a previous attempt already logged is not logged twice), then the checkpoint."""
    from components.torch_trainer.checkpoint import save_checkpoint

    sink = _epoch_sink(run, training.epochs) if run is not None else None
    logged = set(run.logged_epochs) if run is not None else set()

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        if sink is not None and epoch not in logged:
            sink(epoch, metrics)
            logged.add(epoch)
        fabric.log_dict(metrics, step=epoch)
        save_checkpoint(fabric, checkpoint_dir, model, optimizer, epochs_done=epoch + 1)

    return on_epoch_end


def _at_epoch_start(fabric, checkpoint_dir: Path):
    from components.torch_trainer.faults import FailOnce

    failure = FailOnce.from_env(checkpoint_dir)
    if failure is None:
        return lambda epoch: None
    return lambda epoch: failure.at_epoch_start(fabric.global_rank, epoch)


def _fit(run, loaded, snapshot_dir, manifest, seed, checkpoint_dir, log_root, topology) -> _Fitted:
    """Set up Fabric, the shards, model and optimizer, resume from last.ckpt when the checkpoint
    directory has one, and train the epochs left."""
    from lightning.fabric.utilities.seed import seed_everything

    from components.torch_trainer.architecture import summary
    from components.torch_trainer.checkpoint import LAST_CHECKPOINT, resume, state_sha256
    from components.torch_trainer.data import shard_loader, split_dataset
    from components.torch_trainer.loop import fit
    from components.torch_trainer.model import Network, make_optimizer

    training = loaded.spec.training
    fabric = _fabric(topology, _loggers(log_root, run.run_id if run else f"seed-{seed}"))
    seed_everything(seed, verbose=False)
    train_set = split_dataset(snapshot_dir, "train", manifest)
    eval_set = split_dataset(snapshot_dir, "eval", manifest)
    network_input = NetworkInput.from_manifest(loaded.spec.dataset, manifest)
    network = Network.from_spec(training, network_input, manifest)
    if run is not None and not run.resumed:
        run.log_params(_run_params(training, topology, seed, network.parameter_count()))
        run.log_text(summary(network.network, network_input, training), ARCHITECTURE_ARTIFACT)
        run.set_tags(environment_tags(PYTORCH.name, _accelerators()))
    model, optimizer = fabric.setup(network, make_optimizer(training, network.parameters()))
    epochs_done = resume(fabric, checkpoint_dir, model, optimizer)
    resume_from = checkpoint_dir / LAST_CHECKPOINT if epochs_done is not None else None
    if resume_from is not None:
        fabric.print(f"resuming from {resume_from} at epoch {epochs_done}")
    else:
        fabric.print(f"no {LAST_CHECKPOINT} in {checkpoint_dir}: training from scratch")
    start_epoch = epochs_done or 0
    start_state = state_sha256(network.state_dict())
    world, rank = fabric.world_size, fabric.global_rank
    loaders = (
        shard_loader(train_set, training.batch_size, world, rank, seed, shuffle=True),
        shard_loader(eval_set, training.batch_size, world, rank, seed, shuffle=False),
    )
    on_epoch_end = _epoch_end(fabric, run, training, checkpoint_dir, model, optimizer)
    fit_started = time.perf_counter()
    throughput = fit(
        fabric,
        model,
        optimizer,
        loaders,
        network.task,
        range(start_epoch, training.epochs),
        _at_epoch_start(fabric, checkpoint_dir),
        on_epoch_end,
    )
    fit_s = time.perf_counter() - fit_started
    for logger in fabric.loggers:
        logger.finalize("success")
    return _Fitted(
        network,
        len(train_set),
        throughput,
        start_epoch,
        start_state,
        resume_from,
        fit_s,
    )


def _finish_on_rank_zero(
    run, fitted: _Fitted, snapshot_dir, manifest, model_dir, started, start_rss_mb
):
    """Rank 0: the attempt's final metrics (memory: the peak since `train` started, and the RSS
    then), the export, the input probe, and step_s — from the start of `train` to the export
    written, as the TensorFlow trainer measures its step."""
    from components.torch_trainer.export import export_model
    from components.torch_trainer.run_log import TAG_RESUMED_FROM_EPOCH

    if fitted.resume_from is not None:
        run.set_tag(TAG_RESUMED_FROM_EPOCH, str(fitted.start_epoch))
    samples_per_s = fitted.throughput.samples_per_s()
    if samples_per_s is not None:  # trained this attempt: its final metrics, once
        run.log_metrics(
            {
                "samples_per_s": samples_per_s,
                "first_step_s": fitted.throughput.first_step_s,
                "fit_s": fitted.fit_s,
                "train_examples": float(fitted.train_rows),
                **rss_metrics(peak_rss_mb(), start_rss_mb),
            }
        )
    network = fitted.network
    export_model(
        network.inference_module(), network.network_input, manifest, model_dir, snapshot_dir
    )
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
    from components.torch_trainer.checkpoint import state_sha256
    from components.torch_trainer.run_log import train_run
    from components.torch_trainer.topology import topology_from_env

    started = time.perf_counter()
    start_rss_mb = reset_peak_rss()
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
            "start_epoch": fitted.start_epoch,
            "start_state_sha256": fitted.start_state,
            "final_state_sha256": state_sha256(fitted.network.state_dict()),
            "epochs": loaded.spec.training.epochs,
            "parameter_count": fitted.network.parameter_count(),
        }
        if run is not None:
            summary.update(
                _finish_on_rank_zero(
                    run, fitted, snapshot_dir, manifest, model_dir, started, start_rss_mb
                )
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
    inputs = network_inputs(rows, manifest, snapshot_dir)
    run.log_dict(probe_document(rows, manifest, inputs), PROBE_ARTIFACT)


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
