#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine (as root), then run it.
# Docker: a private dockerd, QEMU for arm64 and locally made base images (cached between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - T0 ))s] $*" >&2; }

APT_PACKAGES="gcc g++ make binutils musl-tools gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
  python3-venv python3-dev docker.io debootstrap qemu-user-static binfmt-support bubblewrap"
missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  step "apt: installing" $missing
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  step "venv"
  "$PY" -m venv .venv
fi
step "pip install -e .[test]"
.venv/bin/python -m pip install -q --upgrade pip
# compat mode: a path entry, not an import-hook finder that costs every process ~15 ms
.venv/bin/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
.venv/bin/python -m compileall -q krakend_tools  # as an installed package has it, even with PYTHONDONTWRITEBYTECODE

if [ -x scripts/fetch-wheels.sh ]; then
  step "third-party wheels for the static tests"
  bash scripts/fetch-wheels.sh .cache/wheels
fi

if [ -x scripts/docker-env.sh ]; then
  step "private Docker engine"
  eval "$(bash scripts/docker-env.sh start)"
  trap 'bash scripts/docker-env.sh stop >/dev/null 2>&1 || true' EXIT
  step "local image registry (official-shaped Python images, kept between runs)"
  eval "$(bash scripts/local-registry.sh start)"
  trap 'bash scripts/local-registry.sh stop >/dev/null 2>&1 || true; bash scripts/docker-env.sh stop >/dev/null 2>&1 || true' EXIT
  if [ -x scripts/make-base-images.sh ]; then
    step "local base images (cached)"
    bash scripts/make-base-images.sh
  fi
fi

step "static checks"
.venv/bin/ruff check krakend_tools tests bench scripts
.venv/bin/ruff format --check krakend_tools tests bench scripts
.venv/bin/mypy  # the files [tool.mypy] names: the package, tests, bench/ and scripts/

step "wheel, installed in a fresh venv (the tests run the CLI from that install)"
rm -rf .cache/dist .cache/wheel-venv
.venv/bin/python -m pip wheel -q --no-deps -w .cache/dist .
rm -rf build  # setuptools' scratch folder: a top-level "build" package would shadow the fixtures' build.py for mypy
"$PY" -m venv .cache/wheel-venv
.cache/wheel-venv/bin/python -m pip install -q .cache/dist/krakend_tools-*.whl
export KRAKEND_TEST_PYTHON=$PWD/.cache/wheel-venv/bin/python

step "pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
step "done"
