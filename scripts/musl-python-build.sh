#!/bin/bash
# Inside krakend-tools/base:generic-amd64-builder with the sources in /w:
# builds zlib (static, PIC) and CPython for ARCH (x86_64 native, aarch64 cross) against musl,
# installs into /w/inst-ARCH and makes a slim runtime rootfs in /w/rootfs-ARCH.
set -euo pipefail
A=$1
if [ "$A" = x86_64 ]; then MCC=x86_64-linux-musl-gcc; else MCC=aarch64-linux-musl-gcc; fi
cat >/usr/local/bin/mcc <<EOW
#!/bin/sh
case "\$1" in -print-multiarch|--print-multiarch) echo $A-linux-musl; exit 0;; esac
exec $MCC "\$@"
EOW
chmod +x /usr/local/bin/mcc
J=$(nproc)
# zlib
rm -rf /w/zb-$A /w/zlib-$A && cp -a /w/zlib /w/zb-$A && cd /w/zb-$A
if [ "$A" = aarch64 ]; then export AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib; fi
CC=mcc CFLAGS="-O2 -fPIC" ./configure --static --prefix=/w/zlib-$A >/dev/null
make -j"$J" libz.a >/dev/null && make install >/dev/null
unset AR RANLIB
# CPython
cd /w && rm -rf b-$A inst-$A && mkdir b-$A && cd b-$A
if [ "$A" = x86_64 ]; then
  XOPTS="--build=x86_64-pc-linux-musl --host=x86_64-pc-linux-musl"
else
  export READELF=aarch64-linux-gnu-readelf AR=aarch64-linux-gnu-ar
  export ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no ac_cv_buggy_getaddrinfo=no
  XOPTS="--build=x86_64-pc-linux-musl --host=aarch64-unknown-linux-musl --with-build-python=/usr/bin/python3.11"
fi
CC=mcc PKG_CONFIG=/bin/false CPPFLAGS="-I/w/zlib-$A/include" LDFLAGS="-L/w/zlib-$A/lib" \
  ../Python/configure $XOPTS --prefix=/usr/local --without-ensurepip --disable-test-modules
make -j"$J"
make install DESTDIR=/w/inst-$A >/dev/null
L=/w/inst-$A/usr/local/lib/python3.11
rm -rf $L/test $L/idlelib $L/tkinter $L/turtledemo $L/lib2to3/tests $L/config-3.11-*/libpython3.11.a
find /w/inst-$A -name __pycache__ -prune -exec rm -rf {} +
ln -sf python3 /w/inst-$A/usr/local/bin/python
# slim runtime rootfs: musl loader + python + stdlib, no compilers
STRIP=strip; [ "$A" = aarch64 ] && STRIP=aarch64-linux-gnu-strip
RF=/w/rootfs-$A; rm -rf $RF; mkdir -p $RF/lib $RF/tmp $RF/usr/local $RF/etc; chmod 1777 $RF/tmp
cp -a /w/inst-$A/usr/local/bin /w/inst-$A/usr/local/lib $RF/usr/local/
cp -L /lib/$A-linux-musl/libc.so $RF/lib/ld-musl-$A.so.1 2>/dev/null || cp -L /usr/lib/$A-linux-musl/libc.so $RF/lib/ld-musl-$A.so.1
rm -rf $RF/usr/local/lib/python3.11/ensurepip $RF/usr/local/lib/python3.11/config-3.11-*
echo 'root:x:0:0:root:/root:/bin/sh' >$RF/etc/passwd
echo 'root:x:0:' >$RF/etc/group
$STRIP $RF/usr/local/bin/python3.11 $RF/usr/local/lib/python3.11/lib-dynload/*.so
test -e $RF/usr/local/lib/python3.11/lib-dynload/zlib*.so
