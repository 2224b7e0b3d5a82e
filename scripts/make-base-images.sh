#!/usr/bin/env bash
# Python base images shaped like the official ones, made from the Debian archive alone (no
# image registry), pushed to the local registry, for tests and air-gapped machines:
#
#   $REG/python:<V>-slim-bookworm      Debian bookworm minbase + CPython <V> built from source
#                                      into /usr/local, pip, no compiler
#   $REG/python:<V>-alpine<A>          musl: the loader, a static busybox, CPython <V> from
#                                      source into /usr/local, pip, no compiler
#
# each with linux/amd64 and linux/arm64 variants under one name (per-arch tags -amd64/-arm64
# and a manifest list), and the stdlib extension modules the official images have (_ctypes,
# _decimal, ssl, sqlite3, bz2, lzma, ...; the glibc image carries the runtime packages they
# link, as the official slim image does; musl links them statically). <V> is the CPython of Debian's python3.11 source package; <A> the
# Alpine release that ships Debian's musl version. Run as root with DOCKER_HOST set
# (scripts/docker-env.sh start) and KRAKEND_IMAGE_REGISTRY (scripts/local-registry.sh start).
# Cached: tarballs (rootfs, CPython builds) stay in $KRAKEND_BASE_CACHE and images already in
# the registry are skipped, so a warm run does no work. The cache key is a hash of this script
# and scripts/python-build.sh: a changed recipe rebuilds the toolchain, CPython and the images
# (tag <name>-recipe-<KEY> marks what the recipe made). Prints the two image names on stdout.
set -euo pipefail
C=${KRAKEND_BASE_CACHE:-/var/cache/krakend-tools/bases}
SUITE=bookworm
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
[ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
HERE=$(cd "$(dirname "$0")" && pwd)
: "${DOCKER_HOST:?set DOCKER_HOST (eval \"\$(scripts/docker-env.sh start)\")}"
: "${KRAKEND_IMAGE_REGISTRY:?set KRAKEND_IMAGE_REGISTRY (eval \"\$(scripts/local-registry.sh start)\")}"
REG=$KRAKEND_IMAGE_REGISTRY
KEY=$(cat "$HERE/make-base-images.sh" "$HERE/python-build.sh" | sha256sum | cut -c1-10)
mkdir -p "$C"
T0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - T0 ))s] make-base-images: $*" >&2; }
for tool in docker debootstrap dpkg-deb; do
  command -v $tool >/dev/null || { echo "make-base-images: $tool missing (run scripts/docker-env.sh start)" >&2; exit 2; }
done
if [ "$(uname -m)" = x86_64 ] && ! grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  echo "make-base-images: QEMU arm64 emulation not registered (run scripts/docker-env.sh start)" >&2; exit 2
fi
LOCK=$C/.lock; exec 9>"$LOCK"; flock 9  # one filler of the cache at a time

cache_tar() {  # cache_tar NAME DIR: DIR's content as $C/NAME, atomically
  tar -C "$2" -cf "$C/$1.part" . && mv "$C/$1.part" "$C/$1"
}

in_chroot() {  # in_chroot DIR CMD: run CMD in a rootfs with /proc mounted, always unmounting
  local dir=$1; shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
  mount -t proc proc "$dir/proc"
  local rc=0
  chroot "$dir" sh -ec "$*" || rc=$?
  umount "$dir/proc"
  rm -f "$dir/usr/sbin/policy-rc.d"
  return $rc
}

slim() {  # drop apt caches and docs from a rootfs
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* \
    "$1"/usr/share/man/* "$1"/usr/share/locale/*
}

# ---- 1. rootfs tarballs: bookworm minbase per arch, and the amd64 toolchain to build CPython
for arch in amd64 arm64; do
  [ -s "$C/bookworm-$arch-slim.tar" ] && continue
  d=$(mktemp -d "$C/rootfs-$arch.XXXXXX")
  step "debootstrap $SUITE $arch (minbase)"
  debootstrap --arch="$arch" --variant=minbase "$SUITE" "$d" "$MIRROR" >"$C/debootstrap-$arch.log" 2>&1
  slim "$d"; cache_tar "bookworm-$arch-slim.tar" "$d"; rm -rf "$d"
done
# the -dev packages of what the official images link, for amd64 and arm64 (glibc builds)
DEVS="libssl-dev libffi-dev libsqlite3-dev libbz2-dev liblzma-dev libncurses-dev libreadline-dev uuid-dev
  libgdbm-dev libgdbm-compat-dev libcrypt-dev"
# their runtime packages, in the glibc image (with what the official slim image adds)
RUNTIME="libssl3 libffi8 libsqlite3-0 libbz2-1.0 liblzma5 libncursesw6 libreadline8 libuuid1 libgdbm6
  libgdbm-compat4 libcrypt1 ca-certificates netbase tzdata"
TOOLS="gcc libc6-dev make perl python3.11 musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross musl-dev:arm64 tcl
  linux-libc-dev $DEVS $(for p in $DEVS; do printf '%s:arm64 ' "$p"; done)"
TKEY=$(echo $TOOLS | sha256sum | cut -c1-10) RKEY=$(echo $RUNTIME | sha256sum | cut -c1-10)
TOOLCHAIN=krakend-tools/toolchain:bookworm-$TKEY
if [ ! -s "$C/toolchain-amd64-$TKEY.tar" ]; then
  rm -f "$C"/toolchain-amd64*.tar
  d=$(mktemp -d "$C/toolchain.XXXXXX")
  tar -C "$d" -xf "$C/bookworm-amd64-slim.tar"
  step "toolchain: gcc, aarch64 glibc and musl cross compilers, python3.11 (build python), -dev libraries"
  in_chroot "$d" "apt-get update -qq && dpkg --add-architecture arm64 && apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(echo $TOOLS) >/dev/null"
  slim "$d"; cache_tar "toolchain-amd64-$TKEY.tar" "$d"; rm -rf "$d"
fi
docker image inspect "$TOOLCHAIN" >/dev/null 2>&1 \
  || { step "toolchain image"; docker import "$C/toolchain-amd64-$TKEY.tar" "$TOOLCHAIN" >/dev/null; }
for arch in amd64 arm64; do  # the glibc runtime: minbase + the libraries CPython links
  [ -s "$C/bookworm-$arch-python-$RKEY.tar" ] && continue
  rm -f "$C"/bookworm-$arch-python-*.tar
  d=$(mktemp -d "$C/runtime-$arch.XXXXXX")
  tar -C "$d" -xf "$C/bookworm-$arch-slim.tar"
  step "glibc runtime libraries ($arch)"
  in_chroot "$d" "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $(echo $RUNTIME) >/dev/null"
  slim "$d"; cache_tar "bookworm-$arch-python-$RKEY.tar" "$d"; rm -rf "$d"
done
# ---- 2. sources: Debian's python3.11, zlib and (for musl) libffi, OpenSSL, SQLite, xz, bzip2;
#         static busybox for both arches
s=$C/src
SOURCES="python3.11 zlib libffi openssl sqlite3 xz-utils bzip2"
mkdir -p "$s/lists/partial" "$s/debs"
have_sources() {
  for p in $SOURCES; do ls "$s/${p}"_*.orig.tar.* >/dev/null 2>&1 || return 1; done
  ls "$s"/debs/busybox-static_*_arm64.deb >/dev/null 2>&1
}
if ! have_sources; then
  step "Debian sources ($SOURCES) and busybox-static amd64/arm64"
  printf 'deb-src %s %s main\ndeb [arch=amd64,arm64] %s %s main\n' "$MIRROR" $SUITE "$MIRROR" $SUITE >"$s/src.list"
  apto=(-o Dir::Etc::SourceList="$s/src.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$s/lists"
        -o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
  apt-get "${apto[@]}" update -qq
  (cd "$s" && apt-get "${apto[@]}" source --download-only -qq $SOURCES >/dev/null 2>&1)
  (cd "$s/debs" && apt-get "${apto[@]}" download busybox-static:amd64 busybox-static:arm64 >/dev/null 2>&1)
fi
V=$(ls "$s"/python3.11_*.orig.tar.* | head -n1 | sed 's/.*python3.11_\([0-9.]*\)\.orig.*/\1/')

unpack() {  # unpack PACKAGE DIR: the upstream tree of a Debian source package as $w/DIR
  local x; x=$(mktemp -d "$w/x.XXXXXX")
  tar -C "$x" -xf "$(ls "$s/$1"_*.orig.tar.* | grep -v -- '-www' | head -n1)"
  mv "$x"/* "$w/$2"; rmdir "$x"
}

# ---- 3. CPython <V> from source for glibc and musl, x86_64 and aarch64 (cached tarballs)
w=""
for lm in musl-aarch64 gnu-aarch64 musl-x86_64 gnu-x86_64; do  # the cross builds first: they fail first
  [ -s "$C/python-$V-$lm-$KEY.tar" ] && continue
  if [ -z "$w" ]; then
    find "$C" -maxdepth 1 -name 'python-*.tar' ! -name "*-$KEY.tar" -delete  # other recipes'
    w=$(mktemp -d "$C/work.XXXXXX")
    unpack python3.11 Python; unpack zlib zlib; unpack libffi libffi; unpack openssl openssl
    unpack sqlite3 sqlite; unpack xz-utils xz; unpack bzip2 bzip2
    for a in amd64:x86_64 arm64:aarch64; do
      x=$(mktemp -d); dpkg-deb -x "$s"/debs/busybox-static_*_"${a%%:*}".deb "$x"; cp "$x/bin/busybox" "$w/busybox-${a##*:}"; rm -rf "$x"
    done
    cp "$HERE/python-build.sh" "$w/build.sh"
  fi
  step "CPython $V for $lm"
  docker run --rm --network none -v "$w:/w" "$TOOLCHAIN" bash /w/build.sh ${lm%%-*} ${lm##*-} \
    >"$C/python-$V-$lm.log" 2>&1 || { tail -n 30 "$C/python-$V-$lm.log" >&2; exit 1; }
  mv "$w/local-$lm.tar" "$C/python-$V-$lm-$KEY.tar"
done
[ -z "$w" ] || rm -rf "$w"
MUSL=$(docker run --rm --network none "$TOOLCHAIN" dpkg-query -W -f '${Version}' musl | cut -d- -f1)
case "$MUSL" in 1.2.3*) ALPINE=3.17 ;; 1.2.4*) ALPINE=3.19 ;; 1.2.5*) ALPINE=3.21 ;; *) ALPINE=3.17 ;; esac

# ---- 4. images: one per arch, FROM scratch (so the platform is right), pushed, then one name
ENVS=("PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" "LANG=C.UTF-8" "PYTHON_VERSION=$V")
image() {  # image NAME PLATFORM TAR...: FROM scratch + ADD each tar, pushed as NAME
  local name=$1 platform=$2; shift 2
  local ctx; ctx=$(mktemp -d "$C/ctx.XXXXXX")
  { echo "FROM scratch"
    for t in "$@"; do ln "$t" "$ctx/$(basename "$t")" 2>/dev/null || cp "$t" "$ctx/"; echo "ADD $(basename "$t") /"; done
    for e in "${ENVS[@]}"; do echo "ENV $e"; done
    echo 'CMD ["python3"]'; } >"$ctx/Dockerfile"
  docker build -q --platform "$platform" -t "$name" "$ctx" >/dev/null
  rm -rf "$ctx"
  docker push -q "$name" >/dev/null
  docker rmi "$name" >/dev/null
}
same_list() {  # same_list A B: both names are the same manifest list in the registry
  local a b
  a=$(docker manifest inspect --insecure "$1" 2>/dev/null) && b=$(docker manifest inspect --insecure "$2" 2>/dev/null) \
    && [ "$a" = "$b" ] && grep -q '"architecture": "arm64"' <<<"$a"
}
for shape in "slim-bookworm" "alpine$ALPINE"; do
  name=$REG/python:$V-$shape
  if same_list "$name" "$name-recipe-$KEY"; then
    echo "$name"; continue
  fi
  for arch in amd64 arm64; do
    m=x86_64; [ $arch = arm64 ] && m=aarch64
    step "image $name-$arch"
    if [ "$shape" = slim-bookworm ]; then
      image "$name-$arch" "linux/$arch" "$C/bookworm-$arch-python-$RKEY.tar" "$C/python-$V-gnu-$m-$KEY.tar"
    else
      image "$name-$arch" "linux/$arch" "$C/python-$V-musl-$m-$KEY.tar"
    fi
  done
  for n in "$name" "$name-recipe-$KEY"; do  # the name, and the mark of the recipe that made it
    docker manifest rm "$n" >/dev/null 2>&1 || true
    docker manifest create --insecure "$n" "$name-amd64" "$name-arm64" >/dev/null
    docker manifest push --insecure --purge "$n" >/dev/null
  done
  echo "$name"
done
step "done"
