# syntax=docker/dockerfile:1
# TensorFlow runtime: TFX 1.21 (TensorFlow, Beam, ML Metadata, TFDV) + tandem's shared components.
# Every TFX step of the compiled pipeline runs in this image.
#
# Build from the repository root (the context; tfx.Dockerfile.dockerignore keeps it small):
#   docker build -f images/tfx.Dockerfile \
#     --build-arg TANDEM_GIT_REVISION=$(git rev-parse HEAD) -t <registry>/tandem-tfx:<version> .
# A private package index reaches the build as the secrets `pip.conf` (mounted at /etc/pip.conf)
# and `pip-ca.crt` (/run/secrets/pip-ca.crt); neither stays in the image. `make images` builds it
# here with buildah (tandem/deploy/local_images.py).
#
# Base: Debian 13 (trixie, glibc 2.41) with CPython 3.11. ml-metadata and TFDV 1.21 ship only
# manylinux_2_39 wheels (glibc >= 2.39), so bookworm (2.36) bases cannot load them; Debian 13's
# own python3 is 3.13, while tfx[kfp] only applies below Python 3.12 — hence the official Python
# image on trixie rather than debian:trixie-slim. Pinned by tag here; releases pin the digest too
# with --build-arg BASE_IMAGE=python:<tag>@sha256:<digest> (see images/README.md).
ARG BASE_IMAGE=python:3.11.14-slim-trixie
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
LABEL org.opencontainers.image.title="tandem-tfx"

RUN groupadd --gid 10001 tandem \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/tandem tandem

# Exactly requirements/lock.txt's pins for tandem[tfx] (a generated subset), never re-resolved.
# pyfarmhash (TFX's) is published as source only, so the install compiles it: g++ comes and goes
# in the same step, so no compiler is left in the image (a build stage would have to copy 3.5 GB
# of site-packages across: a minute more per build and a second 3.5 GB layer).
COPY images/tfx-requirements.txt /tmp/tandem/requirements.txt
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && python -m pip install pip==26.3 \
    && python -m pip install --no-deps -r /tmp/tandem/requirements.txt \
    && apt-get purge -y --auto-remove g++ \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /tmp/tandem/src
COPY pyproject.toml README.md ./
COPY components components
COPY pipelines pipelines
COPY tandem tandem
RUN python -m pip install --no-deps --no-build-isolation ".[tfx]" \
    && python -m pip check \
    && rm -rf /tmp/tandem

# The commit the image is built from; MLflow runs are tagged with it (tandem.git_revision).
# Declared last: it changes with every commit, and every step after it would miss the cache.
ARG TANDEM_GIT_REVISION=""
ENV TANDEM_GIT_REVISION=${TANDEM_GIT_REVISION}
LABEL org.opencontainers.image.revision="${TANDEM_GIT_REVISION}"

USER 10001:10001
WORKDIR /home/tandem
