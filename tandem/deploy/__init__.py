"""Taking both pipelines to Kubeflow Pipelines: compile, package, submit, schedule."""
