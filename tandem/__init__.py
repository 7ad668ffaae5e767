"""The tandem application: the `tandem` command line, the run plan, deployment and the local
MLflow stack. Imports run one way: tandem → pipelines → components."""
