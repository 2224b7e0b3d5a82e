#!/bin/bash
# Inside the toolchain image (Debian bookworm with gcc, aarch64 glibc and musl cross compilers,
# Debian's -dev packages for amd64 and arm64), sources in /w: builds CPython from source for
# LIBC (gnu|musl) and ARCH (x86_64 native, aarch64 cross) into /usr/local, the way the official
# python images do, with the stdlib extension modules they have (_ctypes, _decimal, _ssl,
# _hashlib, _sqlite3, _bz2, _lzma, zlib, ...), then adds pip from the bundled wheel.
#   glibc: links Debian's shared libraries (the image installs their runtime packages, as the
#          official slim image does);
#   musl:  no Alpine packages here, so zlib, libffi, OpenSSL, SQLite, xz and bzip2 are built
#          from Debian's sources with the musl compiler, static and PIC, into the modules.
# Result: /w/local-LIBC-ARCH.tar (the /usr/local tree; for musl also the loader and a static
# busybox for /bin/sh). Fails when a module the official images have was not built.
set -euo pipefail
L=$1 A=$2
case "$L-$A" in
  gnu-x86_64) CC0=gcc ;;
  gnu-aarch64) CC0=aarch64-linux-gnu-gcc ;;
  musl-x86_64) CC0=x86_64-linux-musl-gcc ;;
  musl-aarch64) CC0=aarch64-linux-musl-gcc ;;
  *) echo "python-build: unknown target $L-$A" >&2; exit 2 ;;
esac
W=/w/work-$L-$A; rm -rf "$W"; mkdir -p "$W"
D=$W/deps  # static libraries and headers for the musl build
mkdir -p "$D/include" "$D/lib"
# musl's compiler sees no kernel headers (Alpine has linux-headers): Debian's, after musl's own
KH=""
if [ "$L" = musl ]; then
  mkdir -p "$W/kh"
  ln -s /usr/include/linux /usr/include/asm-generic "$W/kh/"
  if [ -d "/usr/$A-linux-gnu/include/asm" ]; then ln -s "/usr/$A-linux-gnu/include/asm" "$W/kh/asm"
  else ln -s "/usr/include/$A-linux-gnu/asm" "$W/kh/asm"; fi
  KH="-idirafter $W/kh"
  # gcc's outlined aarch64 atomics call glibc's __getauxval, which musl lacks
  [ "$A" = aarch64 ] && KH="$KH -mno-outline-atomics"
fi
# a CC that answers -print-multiarch for the target (else host glibc headers leak into musl)
cat >"$W/cc" <<EOW
#!/bin/sh
case "\$1" in -print-multiarch|--print-multiarch) echo $A-linux-$L; exit 0;; esac
exec $CC0 $KH "\$@"
EOW
chmod +x "$W/cc"
J=$(nproc)
HOSTT=$A-linux-$L
if [ "$A" = aarch64 ]; then export AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib; else export AR=ar RANLIB=ranlib; fi
log() { echo "python-build: $L-$A: $*" >&2; }

zlib() {
  cp -a /w/zlib "$W/zb" && cd "$W/zb"
  CC="$W/cc" CFLAGS="-O2 -fPIC" ./configure --static --prefix="$D" >/dev/null
  make -j"$J" libz.a >/dev/null && make install >/dev/null
}

autoconf_lib() {  # autoconf_lib SRC TARGET CONFIGURE-OPTIONS...: a static PIC library into $D
  local src=$1 target=$2; shift 2
  cp -a "/w/$src" "$W/$src" && cd "$W/$src"
  find . -exec touch -r configure {} +  # one mtime: make never asks for autotools
  CC="$W/cc" CFLAGS="-O2 -fPIC" ./configure --host="$HOSTT" --build=x86_64-linux-gnu --prefix="$D" \
    --libdir="$D/lib" --disable-shared --enable-static --with-pic "$@" >"$W/$src.configure.log"
  make -j"$J" $target >"$W/$src.make.log" 2>&1 || { tail -n 30 "$W/$src.make.log" >&2; exit 1; }
}

musl_deps() {
  log "libffi"
  autoconf_lib libffi "" --disable-docs --disable-multi-os-directory
  (cd "$W/libffi" && make install >/dev/null)
  log "xz (liblzma)"
  autoconf_lib xz "" --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo \
    --disable-scripts --disable-doc --disable-nls
  (cd "$W/xz/src/liblzma" && make install >/dev/null)
  log "bzip2"
  cp -a /w/bzip2 "$W/bzip2" && cd "$W/bzip2"
  make -j"$J" CC="$W/cc" AR="$AR" RANLIB="$RANLIB" CFLAGS="-O2 -fPIC -D_FILE_OFFSET_BITS=64" libbz2.a >/dev/null
  cp libbz2.a "$D/lib/" && cp bzlib.h "$D/include/"
  log "sqlite"
  cp -a /w/sqlite "$W/sqlite" && cd "$W/sqlite"
  CC="$W/cc" CFLAGS="-O2 -fPIC -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_JSON1 -DSQLITE_ENABLE_RTREE" \
    ./configure --host="$HOSTT" --build=x86_64-linux-gnu --prefix="$D" --disable-shared --enable-static \
    --disable-tcl --disable-readline --disable-editline >"$W/sqlite.configure.log"
  make -j"$J" sqlite3.c >"$W/sqlite.make.log" 2>&1 || { tail -n 30 "$W/sqlite.make.log" >&2; exit 1; }
  "$W/cc" -O2 -fPIC -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_THREADSAFE=1 -c sqlite3.c -o sqlite3.o
  "$AR" rcs "$D/lib/libsqlite3.a" sqlite3.o && cp sqlite3.h sqlite3ext.h "$D/include/"
  log "openssl"
  cp -a /w/openssl "$W/openssl" && cd "$W/openssl"
  local os=linux-x86_64; [ "$A" = aarch64 ] && os=linux-aarch64
  CC="$W/cc" ./Configure "$os" no-shared no-tests no-afalgeng -fPIC \
    --prefix="$D" --libdir=lib --openssldir=/etc/ssl >"$W/openssl.configure.log"
  make -j"$J" build_libs >"$W/openssl.make.log" 2>&1 || { tail -n 30 "$W/openssl.make.log" >&2; exit 1; }
  cp libssl.a libcrypto.a "$D/lib/" && cp -r include/openssl "$D/include/"
}

zlib
[ "$L" = musl ] && musl_deps
unset AR RANLIB
mkdir "$W/b" && cd "$W/b"
XOPTS=(--build=x86_64-pc-linux-$L)
if [ "$A" = aarch64 ]; then
  export READELF=aarch64-linux-gnu-readelf AR=aarch64-linux-gnu-ar
  export ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no
  XOPTS+=(--host=aarch64-unknown-linux-$L --with-build-python=/usr/bin/python3.11)
else
  XOPTS+=(--host=x86_64-pc-linux-$L)
fi
if [ "$L" = musl ]; then
  XOPTS+=(--with-openssl="$D")
  export LIBFFI_CFLAGS="-I$D/include" LIBFFI_LIBS="-L$D/lib -lffi"
  export LIBSQLITE3_CFLAGS="-I$D/include" LIBSQLITE3_LIBS="-L$D/lib -lsqlite3"
  export LIBLZMA_CFLAGS="-I$D/include" LIBLZMA_LIBS="-L$D/lib -llzma"
  export BZIP2_CFLAGS="-I$D/include" BZIP2_LIBS="-L$D/lib -lbz2"
elif [ "$A" = aarch64 ]; then
  D_INC="-idirafter /usr/include/aarch64-linux-gnu"  # Debian's arm64 -dev headers (ffi.h, openssl/configuration.h)
fi
log "CPython"
CC="$W/cc" PKG_CONFIG=/bin/false CPPFLAGS="-I$D/include ${D_INC:-}" LDFLAGS="-L$D/lib" \
  /w/Python/configure "${XOPTS[@]}" --prefix=/usr/local --without-ensurepip --disable-test-modules \
  --enable-loadable-sqlite-extensions >"$W/configure.log"
make -j"$J" >"$W/make.log" 2>&1 || { tail -n 40 "$W/make.log" >&2; exit 1; }
# the modules the official images have: a missing one fails the build, with the reason
grep -A8 -E "^(The necessary bits to build these optional modules were not found|Failed to build these modules|Following modules built successfully but were removed)" \
  "$W/make.log" >&2 || true
R=$W/root
make install DESTDIR="$R" >/dev/null
P=$R/usr/local/lib/python3.11
for m in _ctypes _decimal _ssl _hashlib _sqlite3 _bz2 _lzma zlib pyexpat _elementtree _uuid _crypt \
    readline _curses _curses_panel _dbm _gdbm; do
  # not built for musl yet (ncurses, readline, gdbm, libuuid; Debian's musl has no crypt_r)
  case "$L-$m" in musl-readline|musl-_curses*|musl-_dbm|musl-_gdbm|musl-_uuid|musl-_crypt) continue ;; esac
  compgen -G "$P/lib-dynload/$m.*so" >/dev/null || { log "module $m was not built"; exit 1; }
done
rm -rf "$P/test" "$P/idlelib" "$P/tkinter" "$P/turtledemo" "$P/lib2to3/tests" "$P"/config-3.11-*/libpython3.11.a
find "$R" -name __pycache__ -prune -exec rm -rf {} +
STRIP=strip; [ "$A" = aarch64 ] && STRIP=aarch64-linux-gnu-strip
$STRIP "$R/usr/local/bin/python3.11" "$P"/lib-dynload/*.so
# pip, from the wheel CPython bundles (what ensurepip installs); no compiler in the image
python3.11 -m zipfile -e /w/Python/Lib/ensurepip/_bundled/pip-*.whl "$P/site-packages"
for n in pip pip3 pip3.11; do
  printf '#!/usr/local/bin/python3\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' >"$R/usr/local/bin/$n"
  chmod 755 "$R/usr/local/bin/$n"
done
ln -sf python3 "$R/usr/local/bin/python"
if [ "$L" = musl ]; then
  mkdir -p "$R/lib" "$R/bin" "$R/tmp" "$R/etc" "$R/root"; chmod 1777 "$R/tmp"
  cp -L /usr/lib/$A-linux-musl/libc.so "$R/lib/ld-musl-$A.so.1" 2>/dev/null \
    || cp -L /lib/$A-linux-musl/libc.so "$R/lib/ld-musl-$A.so.1"
  cp /w/busybox-$A "$R/bin/busybox"
  for t in $(/w/busybox-x86_64 --list); do  # every applet, as Alpine has them
    [ -e "$R/bin/$t" ] || ln -s busybox "$R/bin/$t"
  done
  mkdir -p "$R/usr/bin" && ln -s ../../bin/busybox "$R/usr/bin/env"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"; echo 'root:x:0:' >"$R/etc/group"
fi
tar -C "$R" -cf "/w/local-$L-$A.tar.part" . && mv "/w/local-$L-$A.tar.part" "/w/local-$L-$A.tar"
rm -rf "$W"
echo "python-build: $L-$A done"
