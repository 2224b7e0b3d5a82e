#!/bin/sh
# Run once while building a builder image: installs what a plugin build needs when the base
# does not already carry it (the official Python images do not; local bases do), and the
# helper commands krakend-build-wheel and krakend-cross.
set -e
FLAVOUR=$1
HERE=/usr/local/share/krakend-builder
PY=$(command -v python3)
need_cc=""; command -v gcc >/dev/null 2>&1 || command -v mcc >/dev/null 2>&1 || need_cc=1
need_py=""; "$PY" -c 'import setuptools, wheel' 2>/dev/null || need_py=1
if [ -n "$need_cc" ]; then
  if command -v apk >/dev/null 2>&1; then
    apk add --no-cache build-base linux-headers
  elif command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc g++ libc6-dev make
    rm -rf /var/lib/apt/lists/*
  else
    echo "setup-builder: no compiler and no package manager in the base image" >&2; exit 1
  fi
fi
if [ -n "$need_py" ]; then
  "$PY" -m pip install --no-cache-dir setuptools wheel
fi
install -m 755 "$HERE/krakend-build-wheel" /usr/local/bin/krakend-build-wheel
install -m 755 "$HERE/krakend-cross" /usr/local/bin/krakend-cross
mkdir -p /out /cache && chmod 1777 /cache
echo "setup-builder: $FLAVOUR builder ready ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
