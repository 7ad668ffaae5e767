"""One network trained in one compile mode, built and stepped the same way in the compile
benchmark's process (timings, alternating) and in the fresh process that measures its peak RSS
(`benchmarks.compile_worker`).

A classification network on a `NetworkInput` and arrays of its kind, as the trainers feed it
(`components.common.features.network_inputs`): float32 [rows, width] tabular rows, float32
[rows, *shape] normalised arrays, or int64 [rows, max_length] token ids. PyTorch: the trainer's
`Network` in
"eager" or "compile" mode (its forward `torch.compile`d, as the trainer compiles it), the
trainer's optimizer and loss. TensorFlow: the Keras trainer's `build_model` + `compile_model` in
"graph" or "xla" mode, `fit` on a cached tf.data of the arrays. All the modes built by one call
start from the same initial weights (the spec's first seed). Frameworks are imported inside the
functions: a fresh process measuring one framework never loads the other.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from components.common.architectures import NetworkInput
from components.spec import TrainingSpec

TORCH_MODES = ("eager", "compile")
KERAS_MODES = ("graph", "xla")
TASK = "classification"


@dataclass(frozen=True)
class Trainer:
    model: object
    first_step: Callable[[], None]
    """One training step on the first batch (the compiled modes compile in it)."""
    epoch: Callable[[], float]
    """One step per batch over every batch; its seconds."""
    steps: int


def _batch_count(rows: int, batch_size: int) -> int:
    return -(-rows // batch_size)


def input_to_json(network_input: NetworkInput) -> str:
    """A `NetworkInput` as JSON, for the fresh process that rebuilds it (`input_from_json`)."""
    return json.dumps(dataclasses.asdict(network_input))


def input_from_json(text: str) -> NetworkInput:
    fields = json.loads(text)
    if fields["shape"] is not None:
        fields["shape"] = tuple(fields["shape"])
    return NetworkInput(**fields)


def check_arrays(network_input: NetworkInput, x: np.ndarray) -> None:
    """The arrays must be what the network reads: [rows, *row_shape] of its dtype."""
    if x.shape[1:] != network_input.row_shape or x.dtype != np.dtype(network_input.dtype):
        raise ValueError(
            f"a {network_input.kind} network reads {network_input.dtype} "
            f"[rows, {', '.join(map(str, network_input.row_shape))}], not {x.dtype} {list(x.shape)}"
        )


def torch_trainers(
    training: TrainingSpec,
    network_input: NetworkInput,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    modes: Sequence[str],
) -> dict[str, Trainer]:
    import torch

    from components.torch_trainer.model import Network, loss_function, make_optimizer

    check_arrays(network_input, x)
    torch.manual_seed(training.seeds[0])
    loss_of = loss_function(TASK)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    size = training.batch_size
    batches = [(inputs[i : i + size], labels[i : i + size]) for i in range(0, len(labels), size)]
    trainers: dict[str, Trainer] = {}
    for mode in modes:
        model = Network(training, network_input, n_classes, mode)
        if trainers:
            model.network.load_state_dict(next(iter(trainers.values())).model.network.state_dict())
        optimizer = make_optimizer(training, model.parameters())

        def step(batch, model=model, optimizer=optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            loss_of(model(batch[0]), batch[1]).backward()
            optimizer.step()

        def epoch(step=step) -> float:
            started = time.perf_counter()
            for batch in batches:
                step(batch)
            return time.perf_counter() - started

        trainers[mode] = Trainer(model, lambda step=step: step(batches[0]), epoch, len(batches))
    return trainers


def keras_trainers(
    training: TrainingSpec,
    network_input: NetworkInput,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    modes: Sequence[str],
) -> dict[str, Trainer]:
    import tensorflow as tf

    from components.tf_trainer.config import INPUTS
    from components.tf_trainer.model import build_model, compile_model
    from components.tf_trainer.training import StepTimer, set_seed

    check_arrays(network_input, x)
    set_seed(training.seeds[0])
    dataset = tf.data.Dataset.from_tensor_slices(({INPUTS: x}, y)).batch(training.batch_size)
    dataset = dataset.cache()
    trainers: dict[str, Trainer] = {}
    for mode in modes:
        model = build_model(training, network_input, n_classes)
        if trainers:
            model.set_weights(next(iter(trainers.values())).model.get_weights())
        compile_model(model, training, mode, task=TASK)

        def first_step(model=model) -> None:
            model.fit(dataset.take(1), epochs=1, verbose=0, shuffle=False)

        def epoch(model=model) -> float:
            timer = StepTimer()
            model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            return timer.epoch_seconds[0]

        steps = _batch_count(len(y), training.batch_size)
        trainers[mode] = Trainer(model, first_step, epoch, steps)
    return trainers


def inductor_cache_counts() -> dict:
    """Inductor's on-disk cache and the graphs this process has so far loaded from it (hits) or
    compiled anew (misses): a compile of cached graphs is mostly loads, far quicker (and
    lighter) than a cold one."""
    from torch._dynamo.utils import counters
    from torch._inductor.runtime.runtime_utils import cache_dir

    found = counters["inductor"]
    return {
        "directory": str(cache_dir()),
        "fxgraph_cache_hits": found["fxgraph_cache_hit"],
        "fxgraph_cache_misses": found["fxgraph_cache_miss"],
    }


def inductor_cache_since(before: dict) -> dict:
    """`inductor_cache_counts()` of what happened since `before` was taken."""
    now = inductor_cache_counts()
    return {key: value if key == "directory" else value - before[key] for key, value in now.items()}
