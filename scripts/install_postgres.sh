#!/usr/bin/env bash
# Debian's PostgreSQL server for the local MLflow stack (`make up`, tests/integration), when its
# binaries are missing. The package `postgresql` is the distribution's current major (15 on
# Debian 12, 17 on 13); `apt-get update` only when the package lists do not know it yet.
set -euo pipefail

compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && exit 0
echo "setup: installing postgresql (the local MLflow stack's backend)"
apt=(apt-get)
[ "$(id -u)" = 0 ] || apt=(sudo apt-get)
export DEBIAN_FRONTEND=noninteractive
if ! "${apt[@]}" install -y --no-install-recommends postgresql; then
  "${apt[@]}" update
  "${apt[@]}" install -y --no-install-recommends postgresql
fi
