"""The Keras MLP: shape and parameter count as on the PyTorch side, optimizer, compile modes."""

from __future__ import annotations

import json

import keras
import pytest
import tensorflow as tf

from components.tf_trainer import training
from components.tf_trainer.config import n_inputs
from components.tf_trainer.model import (
    build_model,
    compile_model,
    make_optimizer,
    parameter_count,
)
from components.tf_trainer.training import StepTimer, fit_model, is_chief, make_strategy


def test_parameter_count_matches_the_torch_formula(penguins_spec):
    hidden = penguins_spec.training.hidden_sizes
    width = n_inputs(penguins_spec.dataset)
    classes = len(penguins_spec.dataset.classes)
    assert (width, hidden, classes) == (9, [16, 8], 3)
    torch_style = (9 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    assert parameter_count(hidden, width, classes) == torch_style == 323
    assert build_model(width, classes, hidden).count_params() == torch_style


def test_adam_takes_the_spec_epsilon(penguins_spec):
    training = penguins_spec.training.model_copy(update={"adam_epsilon": 1e-8})
    optimizer = make_optimizer(training)
    assert optimizer.epsilon == 1e-8
    assert float(optimizer.learning_rate) == pytest.approx(training.learning_rate)
    sgd = make_optimizer(training.model_copy(update={"optimizer": "sgd"}))
    assert type(sgd).__name__ == "SGD"


def test_unknown_compile_mode_is_refused(penguins_spec):
    model = build_model(9, 3, [4])
    with pytest.raises(ValueError, match="unknown compile mode"):
        compile_model(model, penguins_spec.training, "turbo")


@pytest.mark.parametrize(
    ("mode", "run_eagerly", "jit_compile"),
    [("eager", True, False), ("graph", False, False), ("xla", False, True)],
)
def test_each_compile_mode_trains_an_epoch(
    penguins_spec, encoded_train, mode, run_eagerly, jit_compile
):
    result = fit_model(
        encoded_train, None, 9, 3, penguins_spec.training, seed=0, mode=mode, epochs=1
    )
    assert result.model.run_eagerly is run_eagerly
    assert result.model.jit_compile is jit_compile
    assert len(result.history["loss"]) == 1
    assert result.history["loss"][0] > 0
    assert result.train_examples == 247
    assert result.samples_per_s > 0


def test_only_the_chief_logs(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    assert not is_chief()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert is_chief()


def test_one_machine_without_gpus_trains_on_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = make_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_the_step_timer_stops_at_validation_and_hooks_no_batch(monkeypatch):
    """An epoch's seconds run from its start to its validation's start (else to its end); no
    per-batch hook, which would make Keras sync and convert every step's logs."""
    ticks = iter([10.0, 12.5, 30.0, 33.0])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(ticks))
    timer = StepTimer()
    timer.on_epoch_begin(0)  # 10.0
    timer.on_test_begin()  # 12.5: validation starts
    timer.on_epoch_end(0)
    timer.on_epoch_begin(1)  # 30.0
    timer.on_epoch_end(1)  # 33.0: no validation
    assert timer.epoch_seconds == [2.5, 3.0]
    assert type(timer).on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
