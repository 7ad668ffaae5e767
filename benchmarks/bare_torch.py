"""The bare PyTorch reference: a plain torch training loop, no Lightning, no TorchX, no KFP.

    python -m benchmarks.bare_torch --spec S.yaml --snapshot DIR --out result.json
    python -m torch.distributed.run --nproc_per_node=2 -m benchmarks.bare_torch ...

The same network (`build_network`), encoded data (`split_dataset`), sharded batched loader
(`shard_loader`: the global batch split over the processes), optimizer and epsilon
(`make_optimizer`) as the pipeline's trainer, DDP over gloo when torchrun starts several
processes. Steps are timed the way the trainer's loop times them (`loop.Throughput`) — from a
batch in hand to the optimizer step done, the first step apart — so samples/s of the two compare
the training work alone (the trainer's also includes its epoch sums).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from components.common.architectures import NetworkInput
from components.common.resources import peak_rss_mb
from components.common.targets import n_outputs
from components.ingest.snapshot import require_manifest
from components.spec import load_spec
from components.torch_trainer.data import shard_loader, split_dataset
from components.torch_trainer.export import export_model
from components.torch_trainer.model import loss_function, make_optimizer
from components.torch_trainer.networks import build_network


def train(
    spec_path: Path, snapshot_dir: Path, epochs: int | None = None, export_dir: Path | None = None
) -> dict:
    """Train on this process's shard; the returned figures are for all processes together.
    Rank 0 then exports the network with softmax on top (`export_model`: the pipeline's
    model.pt2 + TorchScript contract) to export_dir when given; peak RSS is taken before."""
    started = time.perf_counter()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo", timeout=timedelta(minutes=5))
    training = load_spec(spec_path).spec.training
    seed = training.seeds[0]
    torch.manual_seed(seed)
    manifest = require_manifest(snapshot_dir)
    dataset = split_dataset(snapshot_dir, "train", manifest)
    network_input = NetworkInput.tabular(dataset.tensors[0].shape[1])
    network = build_network(training, network_input, n_outputs(manifest))
    loss_of = loss_function(manifest["task"])
    model = DistributedDataParallel(network) if world > 1 else network
    optimizer = make_optimizer(training, model.parameters())
    loader = shard_loader(dataset, training.batch_size, world, rank, seed, shuffle=True)
    sampler = loader.batch_sampler.sampler
    first_step_s, step_s, samples = None, 0.0, 0
    for epoch in range(epochs or training.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            step_started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model(x), y)
            loss.backward()
            optimizer.step()
            elapsed = time.perf_counter() - step_started
            if first_step_s is None:
                first_step_s = elapsed
                continue
            step_s += elapsed
            samples += len(y)
    peak_training_rss_mb = peak_rss_mb()
    if export_dir is not None and rank == 0:
        module = torch.nn.Sequential(network, torch.nn.Softmax(dim=1)).eval()
        export_model(module, network_input, manifest, export_dir, snapshot_dir)
    if world > 1:
        # Without it a rank could tear the group down while the other still finishes the last
        # all-reduce (seen here as a rank hanging for good).
        dist.barrier()
    return {
        "rank": rank,
        "world_size": world,
        "global_batch": training.batch_size,
        "per_process_batch": loader.batch_sampler.batch_size,
        "samples_per_s": samples * world / step_s,
        "first_step_s": first_step_s,
        "wall_s": time.perf_counter() - started,
        "peak_rss_mb": peak_training_rss_mb,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_torch")
    parser.add_argument("--spec", required=True, type=Path)
    parser.add_argument("--snapshot", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="rank 0 writes its JSON here")
    parser.add_argument("--epochs", type=int, help="default: the spec's")
    parser.add_argument("--export-dir", type=Path, help="rank 0 exports the model here")
    args = parser.parse_args(argv)
    result = train(args.spec, args.snapshot, args.epochs, args.export_dir)
    if result["rank"] == 0:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
