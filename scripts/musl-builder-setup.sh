#!/bin/sh
# Inside a Debian builder base after the musl CPython install tree was added at /:
# makes that CPython the default python3, able to build wheels with the musl toolchain
# (and, on amd64, to cross-compile for aarch64 musl).
set -e
A=$1
if [ "$A" = x86_64 ]; then MCC=x86_64-linux-musl-gcc; else MCC=musl-gcc; fi
cat >/usr/local/bin/mcc <<EOW
#!/bin/sh
case "\$1" in -print-multiarch|--print-multiarch) echo $A-linux-musl; exit 0;; esac
exec $MCC "\$@"
EOW
chmod +x /usr/local/bin/mcc
# setuptools and wheel for this interpreter: pure-Python wheels, unpacked (no pip here)
SP=/usr/local/lib/python3.11/site-packages
for w in /tmp/wheels/*.whl; do /usr/local/bin/python3 -m zipfile -e "$w" "$SP"; done
rm -rf /tmp/wheels
X=/opt/cross-aarch64/usr/local
if [ -f "$X/include/python3.11/pyconfig.h" ]; then
  I=/usr/local/include/python3.11
  mv "$I/pyconfig.h" "$I/pyconfig-x86_64.h"
  cp "$X/include/python3.11/pyconfig.h" "$I/pyconfig-aarch64.h"
  printf '#if defined(__aarch64__)\n#include "pyconfig-aarch64.h"\n#else\n#include "pyconfig-x86_64.h"\n#endif\n' >"$I/pyconfig.h"
  cp "$X"/lib/python3.11/_sysconfigdata_*.py /usr/local/lib/python3.11/
fi
rm -rf /opt/cross-aarch64
/usr/local/bin/python3 -c 'import setuptools.build_meta, setuptools.command.bdist_wheel, zlib; print("musl python ok")'
