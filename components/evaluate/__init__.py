"""The shared judge: one framework-neutral evaluation of both pipelines' models."""
