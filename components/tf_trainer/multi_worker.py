"""Keras 3's `fit` under MultiWorkerMirroredStrategy: two upstream failures worked around.

Keras 3.15's TensorFlow trainer fails as soon as several workers train (keras-team/keras#20585,
open; measured here with two workers on 127.0.0.1):
- before the first step it builds the model from the first batch reduced across replicas
  (`strategy.reduce("MEAN", (x, y), axis=None)`), and MultiWorkerMirroredStrategy cannot reduce
  a nested structure: "Attempt to convert a value (PerReplica ...) to a Tensor";
- each step it averages the step's logs (the metric results, scalars) across workers with
  `strategy.reduce("MEAN", value, axis=0)`: "Invalid reduction dimension 0 for input with 0
  dimensions".
`allow_multi_worker_fit()` replaces both steps for a multi-worker strategy only: the model is
built from this worker's own part of the first batch (the build needs shapes, nothing more), and
each log value is averaged across workers as a whole (axis=None), so every worker's epoch logs
are the same. Any other strategy takes Keras's own code unchanged.
"""

from __future__ import annotations

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

_keras_reduce_per_replica = keras_tf_trainer.reduce_per_replica
_keras_maybe_symbolic_build = keras_tf_trainer.TensorFlowTrainer._maybe_symbolic_build


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True for a MultiWorkerMirroredStrategy over more than one worker (as Keras decides it)."""
    return keras_tf_trainer._collective_all_reduce_multi_worker(strategy)


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and is_multi_worker(strategy):
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _keras_reduce_per_replica(values, strategy, reduction)


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self._distribute_strategy
    if strategy is None or iterator is None or not is_multi_worker(strategy):
        return _keras_maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)
    for _, _, batches in iterator:
        data_batch = tf.nest.map_structure(
            lambda v: (
                strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues)
                else v
            ),
            next(batches),
        )
        break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def allow_multi_worker_fit() -> None:
    """Install both replacements (idempotent); Keras's behaviour for other strategies is kept."""
    keras_tf_trainer.reduce_per_replica = _reduce_per_replica
    keras_tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
