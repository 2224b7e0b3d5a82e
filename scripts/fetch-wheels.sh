#!/usr/bin/env bash
# Download the real third-party wheels the static-analysis tests and benchmark read.
# Usage: scripts/fetch-wheels.sh [DEST]   (default DEST: .cache/wheels; kept between runs)
# Binary wheels only, no dependencies: manylinux + musllinux, x86_64 + aarch64, abi3 and
# cp311-specific, one Rust extension and auditwheel-repaired wheels with a `<name>.libs/`
# folder (pyzmq: libzmq, libsodium and, on musllinux, libstdc++/libgcc_s), and plain shared
# libraries loaded with ctypes (pycryptodome: 47 .so files with no PyInit_). About 22 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.cache/wheels}
PIP=${PIP:-.venv/bin/python -m pip}
mkdir -p "$DEST"

# name==version  platform tag (python 3.11)
WHEELS="
cryptography==50.0.2 manylinux_2_28_x86_64
cryptography==50.0.2 musllinux_1_2_aarch64
bcrypt==5.0.0 manylinux_2_28_aarch64
bcrypt==5.0.0 musllinux_1_2_x86_64
msgpack==1.2.4 manylinux_2_17_aarch64
msgpack==1.2.4 musllinux_1_2_x86_64
pyyaml==6.0.3 manylinux_2_17_aarch64
pyyaml==6.0.3 musllinux_1_2_x86_64
markupsafe==3.0.4 manylinux_2_17_x86_64
markupsafe==3.0.4 musllinux_1_2_aarch64
cffi==2.1.1 manylinux_2_17_x86_64
pyzmq==27.3.0 manylinux_2_28_x86_64
pyzmq==27.3.0 manylinux_2_28_aarch64
pyzmq==27.3.0 musllinux_1_2_x86_64
pycryptodome==4.4.0 manylinux_2_17_x86_64
pycryptodome==4.4.0 musllinux_1_2_aarch64
"

have() {  # a wheel of this name-version for this arch and libc family is already cached
  local name=$1 version=$2 plat=$3 family=${3%%_*} arch
  arch=$(sed -E 's/^(many|musl)linux_[0-9]+_[0-9]+_//' <<<"$plat")
  [ "$family" = manylinux ] || family=musllinux
  compgen -G "$DEST/${name//-/_}-${version}-*${family}*_${arch}.whl" >/dev/null
}

echo "$WHEELS" | while read -r spec plat; do
  [ -n "$spec" ] || continue
  name=${spec%%==*} version=${spec##*==}
  if have "$name" "$version" "$plat"; then
    continue
  fi
  echo "fetching $spec ($plat)" >&2
  $PIP download -q --no-deps --only-binary=:all: --platform "$plat" --python-version 3.11 \
    --implementation cp -d "$DEST" "$spec"
done
ls "$DEST"/*.whl | wc -l | xargs echo "wheels in $DEST:" >&2
