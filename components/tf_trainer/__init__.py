"""The TensorFlow side: tf.Transform preprocessing, the Keras MLP, TFX's Trainer `run_fn`, export.

TFX references two entry points by dotted path (the code ships in the image, no user-code wheel):
    Transform(preprocessing_fn="components.tf_trainer.preprocessing.preprocessing_fn",
              custom_config=components.tf_trainer.config.transform_config(spec))
    Trainer(run_fn="components.tf_trainer.trainer.run_fn",
            custom_config=components.tf_trainer.config.trainer_config(spec, runs_dir=...))
The Trainer reads the raw Parquet splits into memory through the transform graph (`data`) and
fits on the arrays (`training`); `benchmarks.bare_keras.train_bare` is the bare Keras `fit` on
in-memory arrays it is measured against. Only `config` imports no TensorFlow.
"""
