"""The tandem application: the `tandem` command line, the run plan, deployment and the local
MLflow stack. Imports run one way: tandem → pipelines → components."""


def __getattr__(name: str):
    """`tandem.RegisteredModel`, the TFX register step's artifact type, imported on first use.

    TFX's Kubeflow v2 container entrypoint imports a custom artifact's class by the type name the
    IR carries (`<module>.<Class>`, one dot, which the compiler enforces), and that type's name is
    `tandem.RegisteredModel`: without this the step fails on a cluster with "Could not import
    tandem.RegisteredModel" (found running the compiled IR in the tfx image). Lazy, so importing
    tandem never imports TFX (the torch image has none).
    """
    if name == "RegisteredModel":
        from components.register.tfx_component import RegisteredModel

        return RegisteredModel
    raise AttributeError(f"module 'tandem' has no attribute {name!r}")
