"""A custom model pair (`training.model.family: custom`): the user's builders, found and checked.

The contract of a builder (the spec names one per framework as `module.path:function`):

- it is called as `build(n_inputs, n_outputs, **params)`, `params` being the spec's
  `training.model.params` (the same keywords for both frameworks), plus, for a dataset whose
  input is an array or text (`architectures.NetworkInput`), keywords describing it:
  - tabular: the encoded row, float32 `(batch, n_inputs)`; no extra keyword;
  - array: float32 `(batch, *shape)`, normalised, channels last; `input_shape=tuple(shape)`
    (n_inputs is the shape's product);
  - text: int64 token ids `(batch, max_length)` in `[0, vocabulary_size)`, [CLS] (2) first and
    [PAD] (0) after the text; `vocabulary_size=` and `max_length=` (n_inputs is max_length);
    the vocabulary size is the trained one from the snapshot's manifest (the check before
    ingest passes the spec's requested size, an upper bound);
- the TensorFlow builder returns a `keras.Model`, the PyTorch builder a `torch.nn.Module`, mapping
  that input batch to raw outputs `(batch, n_outputs)`: class logits (no softmax: the loss takes
  logits and the export adds softmax), or one output for regression;
- it owns its initialisation: tandem trains the network as returned (the built-in families'
  Glorot-uniform scheme is not applied), after seeding each framework with the run's seed;
- the trained network is exported like a built-in one, so it must allow that: Keras as a
  SavedModel, torch through `torch.export` (dynamic batch) and `torch.jit.script` (the
  TorchScript fallback) — the checks below do not try the export;
- its module must be importable where each pipeline runs: on PYTHONPATH here (the TFX Trainer,
  the kfp.local steps and the torchrun ranks all inherit it), in the image on a cluster. The
  Keras builder's module should import only Keras/TensorFlow and the torch builder's only torch,
  since each runtime image carries one framework.

A bad builder is stopped before training with one line naming the spec field, the builder path
and the problem: its module does not import, it is missing or not callable, it raises, it returns
the wrong type, it maps a probe batch of `PROBE_ROWS` rows to the wrong shape, or the network has
no trainable parameters. This module resolves and calls builders without importing a framework;
each trainer's `custom` module checks what its builder returns, and `tandem run` runs both checks
(one process per framework) before it ingests anything.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from components.common.architectures import NetworkInput
from components.common.errors import TandemError
from components.common.text_tokens import CLS_ID, PAD_ID
from components.spec import Spec, load_spec

PROBE_ROWS = 4
FIELD_PREFIX = "training.model."


def builder_error(framework: str, path: str, problem: str) -> TandemError:
    """`training.model.<framework>: <path>: <problem>`."""
    return TandemError(f"{FIELD_PREFIX}{framework}: {path}: {problem}")


def one_line(exc: BaseException) -> str:
    """`TypeError: the first line of its message`."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def resolve_builder(framework: str, path: str) -> Callable[..., Any]:
    """Import `module.path` and get `function` from a `module.path:function` path."""
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise builder_error(
            framework,
            path,
            f"cannot import module {module_name!r} ({one_line(exc)}): put its directory on "
            "PYTHONPATH here, or install it into the image on a cluster",
        ) from None
    except Exception as exc:  # a module that fails while importing: name what it raised
        raise builder_error(
            framework, path, f"importing module {module_name!r} raised {one_line(exc)}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise builder_error(framework, path, f"module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise builder_error(
            framework, path, f"{attribute!r} is not callable (type {type(target).__name__})"
        )
    return target


def call_builder(
    framework: str,
    path: str,
    network_input: NetworkInput,
    n_outputs: int,
    params: dict[str, Any],
) -> Any:
    """`build(n_inputs, n_outputs, **input keywords, **params)`; what it raises becomes the one
    line."""
    builder = resolve_builder(framework, path)
    keywords = {**network_input.builder_keywords(), **params}
    try:
        return builder(network_input.n_inputs, n_outputs, **keywords)
    except TandemError:
        raise
    except Exception as exc:
        arguments = [str(network_input.n_inputs), str(n_outputs)]
        arguments += [f"{key}={value!r}" for key, value in keywords.items()]
        called = f"build({', '.join(arguments)})"
        raise builder_error(framework, path, f"{called} raised {one_line(exc)}") from None


def probe_batch(network_input: NetworkInput) -> np.ndarray:
    """PROBE_ROWS rows of the input, fixed (its own generator: the frameworks' seeded random
    state is left alone): float32 standard normal like z-scored or normalised values, or int64
    token ids, each row [CLS] then ids in [CLS_ID + 1, vocabulary_size) then [PAD]s (row r
    holds r + 1 tokens after [CLS], as far as max_length allows)."""
    generator = np.random.default_rng(0)
    shape = (PROBE_ROWS, *network_input.row_shape)
    if network_input.kind != "text":
        return generator.standard_normal(shape).astype(np.float32)
    ids = generator.integers(CLS_ID + 1, network_input.vocabulary_size, shape, dtype=np.int64)
    ids[:, 0] = CLS_ID
    for row in range(PROBE_ROWS):
        ids[row, row + 2 :] = PAD_ID
    return ids


def check_probe_output(
    framework: str, path: str, shape: tuple | None, probe_shape: tuple, n_outputs: int
) -> None:
    """The network mapped the probe batch (of `probe_shape`) to (PROBE_ROWS, n_outputs), or the
    one line says not."""
    expected = (PROBE_ROWS, n_outputs)
    if shape == expected:
        return
    got = "something without a shape" if shape is None else f"shape {shape}"
    raise builder_error(
        framework,
        path,
        f"the network maps a probe batch of shape {probe_shape} to {got}, expected "
        f"{expected}: (batch, n_outputs) raw outputs",
    )


def checked_network(
    framework: str,
    path: str,
    network_input: NetworkInput,
    n_outputs: int,
    params: dict[str, Any],
    *,
    kind: type,
    kind_name: str,
    probe: Callable[[Any, np.ndarray], tuple | None],
    trainable: Callable[[Any], bool],
) -> Any:
    """The network the builder at `path` returns, checked in the contract's order: an instance
    of `kind` (named `kind_name` in the error); `probe(network, probe_batch)` gives the output's
    shape (None: not a tensor), which must be (PROBE_ROWS, n_outputs); `trainable(network)` must
    hold. Each framework's `custom` module supplies its type, probe call and trainable test."""
    network = call_builder(framework, path, network_input, n_outputs, params)
    if not isinstance(network, kind):
        raise builder_error(
            framework, path, f"returned a {type(network).__name__}, expected a {kind_name}"
        )
    batch = probe_batch(network_input)
    try:
        shape = probe(network, batch)
    except Exception as exc:
        raise builder_error(
            framework, path, f"the network fails on a probe batch: {one_line(exc)}"
        ) from None
    check_probe_output(framework, path, shape, batch.shape, n_outputs)
    if not trainable(network):
        raise builder_error(framework, path, "the network has no trainable parameters")
    return network


def module_digest(path: str) -> str | None:
    """sha256 of the builder module's source file, found without importing it (its package is
    imported); None when it cannot be found. A pipeline cache keyed on it reruns the training
    when the builder's code changes though the spec did not."""
    try:
        found = importlib.util.find_spec(path.partition(":")[0])
    except (ImportError, ValueError):
        return None
    origin = getattr(found, "origin", None)
    if not origin or not Path(origin).is_file():
        return None
    return hashlib.sha256(Path(origin).read_bytes()).hexdigest()


def check_main(
    argv: list[str] | None, framework: str, count_parameters: Callable[[Spec], int]
) -> int:
    """A framework's builder check as a command (`python -m components.<trainer>.builder_check
    --spec S`): `count_parameters(spec)` builds and checks the spec's network as its trainer
    does and returns its trainable parameters, printed as JSON; a TandemError is one line on
    stderr, `error: <spec file>: ...`, and exit code 2."""
    parser = argparse.ArgumentParser(description=f"Build and check the spec's {framework} model.")
    parser.add_argument("--spec", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        loaded = load_spec(args.spec)  # its errors name the file already
        try:
            count = count_parameters(loaded.spec)
        except TandemError as exc:
            raise TandemError(f"{loaded.path}: {exc}") from None
    except TandemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"framework": framework, "parameter_count": count}))
    return 0
