"""The local MLflow server on PostgreSQL (`make up` / `make down`)."""
