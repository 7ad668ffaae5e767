"""Logging evaluated models to MLflow and moving the registry's challenger/champion aliases."""
