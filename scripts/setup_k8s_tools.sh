#!/usr/bin/env bash
# Install the Kubernetes manifest tools that tests/k8s runs (idempotent: returns at once when ready).
#
# kustomize: Debian 13's `kustomize` package, downloaded with a private apt state (the host apt is
# untouched, the same route on Debian 12 and 13) and unpacked into .tools/bin. It needs glibc >= 2.34.
# checkov and kubernetes-validate: a venv of their own, .venv-tools, pinned by requirements/tools.txt
# (their dependency pins conflict with TFX's in .venv).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
venv="$root/.venv-tools"
lock="$root/requirements/tools.txt"
stamp="$tools/.setup"
base_python=${TANDEM_BASE_PYTHON:-python3.11}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

fingerprint=$(cat "$lock" "$0" | { printf '%s\n' "$root"; cat; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$fingerprint" ] && "$tools/bin/kustomize" version >/dev/null 2>&1 &&
  [ -x "$venv/bin/checkov" ] && "$venv/bin/python" -c '' 2>/dev/null; then
  echo "setup: k8s tools are ready (kustomize $(cat "$tools/kustomize.version"))"
  exit 0
fi
started=$SECONDS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/state/lists/partial" "$work/apt/cache/archives/partial" "$work/debs" "$tools/bin"
cat >"$work/apt/sources.list" <<SOURCES
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SOURCES
apt_opts=(
  -o "Dir::Etc::SourceList=$work/apt/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::State=$work/apt/state"
  -o "Dir::Cache=$work/apt/cache"
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
echo "setup: downloading kustomize (Debian 13 package, private apt state)"
apt-get "${apt_opts[@]}" -qq update
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download kustomize)
deb=$(echo "$work"/debs/kustomize_*.deb)
dpkg -x "$deb" "$work/root"
install -m 0755 "$work/root/usr/bin/kustomize" "$tools/bin/kustomize"
dpkg-deb -f "$deb" Version >"$tools/kustomize.version"

echo "setup: installing checkov and kubernetes-validate into .venv-tools"
rm -rf "$venv"
"$base_python" -m venv "$venv"
# This machine kind lists file:// package indexes that hold only some packages; pip warns per miss.
"$venv/bin/python" -m pip --quiet install --no-deps -r "$lock" 2> >(grep -v "is ignored: it is neither a file nor" >&2)
"$venv/bin/python" -m pip check
printf '%s\n' "$fingerprint" >"$stamp"
echo "setup: k8s tools done in $((SECONDS - started)) s (kustomize $(cat "$tools/kustomize.version"))"
