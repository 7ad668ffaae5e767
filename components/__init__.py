"""tandem's pipeline steps: one package per step, core logic as plain functions, thin wrappers."""
