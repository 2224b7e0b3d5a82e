#!/usr/bin/env bash
# Local base images for the four gateway targets, made without any image registry
# (Debian archive only), for tests and air-gapped machines. Run as root with DOCKER_HOST set
# (scripts/docker-env.sh start). Cached: rootfs tarballs stay in $KRAKEND_BASE_CACHE, and
# images that already exist are skipped, so a warm run does no work.
#
#   krakend-tools/base:generic-amd64-runtime   Debian bookworm + python3
#   krakend-tools/base:generic-amd64-builder   + gcc, python3-dev, setuptools, wheel, pip,
#                                              aarch64 glibc and musl cross toolchains
#   krakend-tools/base:generic-arm64-runtime   Debian bookworm arm64 + python3
#   krakend-tools/base:generic-arm64-builder   + gcc, python3-dev, setuptools, wheel, musl-tools
#   krakend-tools/base:alpine-amd64-runtime    musl CPython 3.11 (built from Debian's source)
#   krakend-tools/base:alpine-amd64-builder    glibc-hosted musl toolchain + musl CPython,
#                                              with aarch64 musl cross headers
#   krakend-tools/base:alpine-arm64-runtime    musl CPython 3.11 for aarch64
#   krakend-tools/base:alpine-arm64-builder    arm64 musl toolchain + musl CPython (emulated)
set -euo pipefail
C=${KRAKEND_BASE_CACHE:-/var/cache/krakend-tools/bases}
REPO=${KRAKEND_BASE_REPO:-krakend-tools/base}
SUITE=bookworm
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
[ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$C"
T0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - T0 ))s] make-base-images: $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
: "${DOCKER_HOST:?set DOCKER_HOST (eval \"\$(scripts/docker-env.sh start)\")}"

for tool in docker debootstrap; do
  command -v $tool >/dev/null || { echo "make-base-images: $tool missing (run scripts/docker-env.sh start)" >&2; exit 2; }
done
if [ "$(uname -m)" = x86_64 ] && ! grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  echo "make-base-images: QEMU arm64 emulation not registered (run scripts/docker-env.sh start)" >&2; exit 2
fi

# image_from_tar TAR IMAGE PLATFORM [ENV...]: FROM scratch + ADD, so the platform is right
image_from_tar() {
  local tar=$1 image=$2 platform=$3; shift 3
  local ctx; ctx=$(mktemp -d "$C/ctx.XXXXXX")
  ln "$tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$tar" "$ctx/rootfs.tar"
  { echo "FROM scratch"; echo "ADD rootfs.tar /"; for e in "$@"; do echo "ENV $e"; done
    echo 'CMD ["python3"]'; } >"$ctx/Dockerfile"
  docker build -q --platform "$platform" -t "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# in_chroot DIR CMD: run CMD in a rootfs with /proc mounted, always unmounting
in_chroot() {
  local dir=$1; shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
  mount -t proc proc "$dir/proc"
  local rc=0
  chroot "$dir" sh -ec "$*" || rc=$?
  umount "$dir/proc"
  return $rc
}

slim() {  # drop apt caches and docs from a rootfs
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* \
    "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1/usr/sbin/policy-rc.d"
}

# debian_rootfs ARCH: cached tarballs of a runtime (python3) and a builder rootfs
debian_rootfs() {
  local arch=$1 rt=$C/generic-$1-runtime.tar dev=$C/generic-$1-builder.tar
  if [ ! -s "$rt" ] || [ ! -s "$dev" ]; then
    local d; d=$(mktemp -d "$C/rootfs-$arch.XXXXXX")
    step "debootstrap $SUITE $arch (python3)"
    debootstrap --arch="$arch" --variant=minbase --include=python3 "$SUITE" "$d" "$MIRROR" >"$C/debootstrap-$arch.log" 2>&1
    [ -s "$rt" ] || { slim "$d"; tar -C "$d" -cf "$rt.part" . && mv "$rt.part" "$rt"; }
    step "$arch builder packages"
    local extra=""
    if [ "$arch" = amd64 ]; then
      extra="dpkg --add-architecture arm64 && apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross libpython3.11-dev:arm64 musl-dev:arm64 >/dev/null"
    fi
    in_chroot "$d" "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc g++ libc6-dev make python3-dev python3-setuptools python3-wheel python3-pip python3-venv musl-tools >/dev/null
      ${extra:+DEBIAN_FRONTEND=noninteractive $extra}"
    slim "$d"
    tar -C "$d" -cf "$dev.part" . && mv "$dev.part" "$dev"
    rm -rf "$d"
  fi
}

for arch in amd64 arm64; do
  for kind in runtime builder; do
    img=$REPO:generic-$arch-$kind
    if ! have_image "$img"; then
      debian_rootfs $arch
      step "image $img"
      image_from_tar "$C/generic-$arch-$kind.tar" "$img" "linux/$arch" LANG=C.UTF-8
    fi
  done
done

# ---- musl CPython from Debian's python3.11 source, zlib linked in statically ----
musl_python() {
  local s=$C/src
  mkdir -p "$s/lists/partial"
  if ! ls "$s"/python3.11_*.orig.tar.* >/dev/null 2>&1 || ! ls "$s"/zlib_*.orig.tar.* >/dev/null 2>&1; then
    step "Debian sources: python3.11, zlib"
    echo "deb-src $MIRROR $SUITE main" >"$s/src.list"
    local apto="-o Dir::Etc::SourceList=$s/src.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$s/lists"
    apt-get $apto update -qq
    (cd "$s" && apt-get $apto source --download-only -qq python3.11 zlib >/dev/null 2>&1)
  fi
  local w; w=$(mktemp -d "$C/musl.XXXXXX")
  tar -C "$w" -xf "$(ls "$s"/python3.11_*.orig.tar.* | head -n1)"
  tar -C "$w" -xf "$(ls "$s"/zlib_*.orig.tar.* | head -n1)"
  mv "$w"/Python-3.11* "$w/Python"; mv "$w"/zlib-* "$w/zlib"
  cp "$HERE/musl-python-build.sh" "$w/build.sh"
  for a in x86_64 aarch64; do
    step "musl CPython $a"
    docker run --rm --network none -v "$w:/w" "$REPO:generic-amd64-builder" bash /w/build.sh $a >"$C/musl-python-$a.log" 2>&1 \
      || { tail -n 30 "$C/musl-python-$a.log" >&2; exit 1; }
    tar -C "$w/rootfs-$a" -cf "$C/musl-$a-runtime.tar.part" . && mv "$C/musl-$a-runtime.tar.part" "$C/musl-$a-runtime.tar"
    tar -C "$w/inst-$a" -cf "$C/musl-$a-install.tar.part" . && mv "$C/musl-$a-install.tar.part" "$C/musl-$a-install.tar"
  done
  (cd "$w/inst-aarch64" && tar -cf "$C/musl-aarch64-cross.tar.part" ./usr/local/include ./usr/local/lib/python3.11/_sysconfigdata_*.py) \
    && mv "$C/musl-aarch64-cross.tar.part" "$C/musl-aarch64-cross.tar"
  rm -rf "$w"
}

# setuptools + wheel for the musl CPython (it has no pip): downloaded once, kept in the cache
build_wheels() {
  ls "$C"/wheels/setuptools-*.whl "$C"/wheels/wheel-*.whl >/dev/null 2>&1 && return 0
  local py=""
  for cand in "${PYTHON:-}" "$HERE/../.venv/bin/python" python3; do
    [ -n "$cand" ] && "$cand" -m pip --version >/dev/null 2>&1 && { py=$cand; break; }
  done
  [ -n "$py" ] || { echo "make-base-images: need a Python with pip to fetch setuptools and wheel" >&2; exit 1; }
  step "setuptools and wheel for the musl CPython"
  mkdir -p "$C/wheels"
  "$py" -m pip download -q --no-deps --only-binary=:all: -d "$C/wheels" "setuptools>=70" "wheel>=0.40"
}

need_musl=""
[ -s "$C/musl-aarch64-cross.tar" ] || need_musl=1
for a in x86_64 aarch64; do
  for f in runtime install; do [ -s "$C/musl-$a-$f.tar" ] || need_musl=1; done
done
musl_done=""
for arch in amd64 arm64; do
  m=x86_64; [ $arch = arm64 ] && m=aarch64
  img=$REPO:alpine-$arch-runtime
  if ! have_image "$img"; then
    [ -z "$need_musl" ] || [ -n "$musl_done" ] || { musl_python; musl_done=1; }
    step "image $img"
    image_from_tar "$C/musl-$m-runtime.tar" "$img" "linux/$arch" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
  fi
  img=$REPO:alpine-$arch-builder
  if ! have_image "$img"; then
    [ -z "$need_musl" ] || [ -n "$musl_done" ] || { musl_python; musl_done=1; }
    step "image $img"
    ctx=$(mktemp -d "$C/ctx.XXXXXX")
    ln "$C/musl-$m-install.tar" "$ctx/install.tar" 2>/dev/null || cp "$C/musl-$m-install.tar" "$ctx/install.tar"
    if [ $arch = amd64 ]; then
      ln "$C/musl-aarch64-cross.tar" "$ctx/cross.tar" 2>/dev/null || cp "$C/musl-aarch64-cross.tar" "$ctx/cross.tar"
    else
      tar -cf "$ctx/cross.tar" -T /dev/null
    fi
    cp "$HERE/musl-builder-setup.sh" "$ctx/setup.sh"
    build_wheels; mkdir "$ctx/wheels"; cp "$C"/wheels/*.whl "$ctx/wheels/"
    cat >"$ctx/Dockerfile" <<EOD
FROM $REPO:generic-$arch-builder
ADD install.tar /
ADD cross.tar /opt/cross-aarch64/
COPY setup.sh /tmp/setup.sh
COPY wheels/ /tmp/wheels/
RUN sh /tmp/setup.sh $m && rm /tmp/setup.sh
ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
EOD
    docker build -q --platform "linux/$arch" -t "$img" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
done
step "done"
docker images "$REPO" --format '{{.Repository}}:{{.Tag}} {{.Size}}' >&2
