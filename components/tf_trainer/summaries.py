"""Per-epoch TensorBoard scalars without the `tensorboard` package.

Keras's TensorBoard callback calls `tf.summary.scalar`, which needs the tensorboard package (not
in the runtime image). `tf.summary.write` is TensorFlow core: with the scalars plugin's metadata
it writes the same event files, laid out like Keras's callback (<log_dir>/train and
<log_dir>/validation, tags "epoch_<metric>"), which TensorBoard reads wherever it is installed.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _scalar_metadata() -> summary_pb2.SummaryMetadata:
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )


class EpochScalars(keras.callbacks.Callback):
    """Writes each epoch's logs (loss, accuracy, val_*) as TensorBoard scalars under log_dir."""

    def __init__(self, log_dir: str | Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, tf.summary.SummaryWriter] = {}

    def _writer(self, run: str) -> tf.summary.SummaryWriter:
        if run not in self._writers:
            self._writers[run] = tf.summary.create_file_writer(str(self.log_dir / run))
        return self._writers[run]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            run, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(run).as_default():
                tf.summary.write(
                    f"epoch_{name}",
                    tf.constant(float(value), tf.float32),
                    step=epoch,
                    metadata=_scalar_metadata(),
                )

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
