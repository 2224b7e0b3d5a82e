#!/usr/bin/env bash
# Install krakend-tools in .venv and check a bundled plugin lockfile against a bundled gateway
# manifest. Exit status is check-plugin's: 1 here, since the example has real incompatibilities.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e . >&2
set -x
.venv/bin/krakend version --manifest fixtures/gateway/manifest.json
.venv/bin/krakend check-plugin --fix -s "${1:-fixtures/plugins/geo-lookup/uv.lock}" \
  --manifest fixtures/gateway/manifest.json
