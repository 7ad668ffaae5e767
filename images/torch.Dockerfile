# syntax=docker/dockerfile:1
# PyTorch runtime: torch, Lightning, TorchX (torchrun) + tandem's shared components. Every step
# of the compiled PyTorch pipeline runs in this image, and so do multi-node TorchX replicas.
#
# Build from the repository root (the context; torch.Dockerfile.dockerignore keeps it small):
#   docker build -f images/torch.Dockerfile \
#     --build-arg TANDEM_GIT_REVISION=$(git rev-parse HEAD) -t <registry>/tandem-torch:<version> .
# A private package index reaches the build as the secrets `pip.conf` and `pip-ca.crt`, as in
# images/tfx.Dockerfile; `make images` builds it here with buildah (tandem/deploy/local_images.py).
# GPU nodes: add --build-arg TORCH_VARIANT=cu128 (any CUDA build PyTorch publishes for this
# release) and tag it apart, e.g. tandem-torch:<version>-cu128.
#
# Base: the same as images/tfx.Dockerfile (CPython 3.11 on Debian 13), so both frameworks run on
# one OS and Python. Pinned by tag; releases pin the digest too (see images/README.md).
ARG BASE_IMAGE=python:3.11.14-slim-trixie
FROM ${BASE_IMAGE}

# torch comes from PyTorch's own index: `cpu` (default) is the +cpu wheel lock.txt pins; a CUDA
# variant (cu126, cu128, ...) is the same release built for CUDA, whose nvidia-* and triton
# dependencies its metadata pins exactly (they are not in lock.txt, a CPU machine's freeze).
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
# Where torch comes from: PyTorch's index for the variant; empty = pip's configured indexes (a
# machine whose pip configuration already carries the variant's wheel, as `make images` does).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
LABEL org.opencontainers.image.title="tandem-torch"

RUN groupadd --gid 10001 tandem \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/tandem tandem

# Exactly requirements/lock.txt's pins for tandem[torch] except torch (a generated subset), never
# re-resolved; then torch, constrained by the same pins so nothing already installed moves.
COPY images/torch-requirements.txt /tmp/tandem/requirements.txt
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf --mount=type=secret,id=pip-ca.crt \
    python -m pip install pip==26.3 \
    && python -m pip install --no-deps -r /tmp/tandem/requirements.txt \
    && python -m pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
        --constraint /tmp/tandem/requirements.txt "torch==${TORCH_VERSION}+${TORCH_VARIANT}"

WORKDIR /tmp/tandem/src
COPY pyproject.toml README.md ./
COPY components components
COPY pipelines pipelines
COPY tandem tandem
RUN python -m pip install --no-deps --no-build-isolation ".[torch]" \
    && python -m pip check \
    && rm -rf /tmp/tandem

# The commit the image is built from; MLflow runs are tagged with it (tandem.git_revision).
# Declared last: it changes with every commit, and every step after it would miss the cache.
ARG TANDEM_GIT_REVISION=""
ENV TANDEM_GIT_REVISION=${TANDEM_GIT_REVISION}
LABEL org.opencontainers.image.revision="${TANDEM_GIT_REVISION}"

USER 10001:10001
WORKDIR /home/tandem
