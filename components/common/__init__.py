"""Pieces every step shares: the spec, user-facing errors, MLflow tracking."""
