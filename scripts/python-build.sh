#!/bin/bash
# Inside the toolchain image (Debian bookworm with gcc, aarch64 glibc and musl cross compilers),
# sources in /w: builds zlib (static, PIC) and CPython from source for LIBC (gnu|musl) and ARCH
# (x86_64 native, aarch64 cross) into /usr/local, the way the official python images do, then
# adds pip from the bundled wheel. Result: /w/local-LIBC-ARCH.tar (the /usr/local tree; for
# musl also the loader and a static busybox for /bin/sh).
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
# a CC that answers -print-multiarch for the target (else host glibc headers leak into musl)
cat >"$W/cc" <<EOW
#!/bin/sh
case "\$1" in -print-multiarch|--print-multiarch) echo $A-linux-$L; exit 0;; esac
exec $CC0 "\$@"
EOW
chmod +x "$W/cc"
J=$(nproc)
cp -a /w/zlib "$W/zb" && cd "$W/zb"
if [ "$A" = aarch64 ]; then export AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib; fi
CC="$W/cc" CFLAGS="-O2 -fPIC" ./configure --static --prefix="$W/zlib" >/dev/null
make -j"$J" libz.a >/dev/null && make install >/dev/null
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
# _decimal (libmpdec) is the slowest module to build; decimal falls back to _pydecimal
export py_cv_module__decimal=n/a
CC="$W/cc" PKG_CONFIG=/bin/false CPPFLAGS="-I$W/zlib/include" LDFLAGS="-L$W/zlib/lib" \
  /w/Python/configure "${XOPTS[@]}" --prefix=/usr/local --without-ensurepip --disable-test-modules >"$W/configure.log"
make -j"$J" >"$W/make.log" 2>&1 || { tail -n 40 "$W/make.log" >&2; exit 1; }
R=$W/root
make install DESTDIR="$R" >/dev/null
P=$R/usr/local/lib/python3.11
rm -rf "$P/test" "$P/idlelib" "$P/tkinter" "$P/turtledemo" "$P/lib2to3/tests" "$P"/config-3.11-*/libpython3.11.a
find "$R" -name __pycache__ -prune -exec rm -rf {} +
STRIP=strip; [ "$A" = aarch64 ] && STRIP=aarch64-linux-gnu-strip
$STRIP "$R/usr/local/bin/python3.11" "$P"/lib-dynload/*.so
test -e "$P"/lib-dynload/zlib*.so
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
