# syntax=docker/dockerfile:1
# The MLflow tracking server for k8s/base: the official MLflow image has neither the PostgreSQL
# driver (psycopg 3: SQLAlchemy 2.1 maps postgresql:// to it) nor boto3 (S3 artifacts).
#
# Build from the repository root (mlflow.Dockerfile.dockerignore sends only the lock subset):
#   docker build -f images/mlflow.Dockerfile -t <registry>/tandem-mlflow:<version> .
# then pin it by digest in the overlay (k8s/README.md, "Images"). A private package index reaches
# the build as the secrets `pip.conf` and `pip-ca.crt`, as in images/tfx.Dockerfile.
#
# Base: the pipeline images' (CPython 3.11 on Debian 13), so the server runs the Python and the
# MLflow the pipeline steps log with.
ARG BASE_IMAGE=python:3.11.14-slim-trixie
# checkov:skip=CKV_DOCKER_7:FROM takes the BASE_IMAGE build arg, whose default above is a full version tag; tests/images/test_dockerfiles.py checks the expanded tag
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
LABEL org.opencontainers.image.title="tandem-mlflow"

RUN groupadd --gid 10001 mlflow \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/mlflow mlflow

# Exactly requirements/lock.txt's pins for mlflow, psycopg[binary] and boto3 (a generated
# subset), never re-resolved.
COPY images/mlflow-requirements.txt /tmp/mlflow/requirements.txt
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    python -m pip install pip==26.3 \
    && python -m pip install --no-deps -r /tmp/mlflow/requirements.txt \
    && python -m pip check \
    && rm -rf /tmp/mlflow

USER 10001:10001
WORKDIR /home/mlflow
EXPOSE 5000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=5)"]
ENTRYPOINT ["mlflow"]
CMD ["server", "--host", "0.0.0.0"]
