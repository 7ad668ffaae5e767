"""The TensorFlow pipeline (TFX): definition, LocalDagRunner runner, Kubeflow V2 compiler."""
