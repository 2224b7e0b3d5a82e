"""The locally made base images are official-shaped: the stdlib extension modules the
official ``python:<V>-slim-bookworm`` and ``python:<V>-alpine<A>`` images have import in them,
on amd64 and arm64 (arm64 under QEMU), as ``python -c "import ..."`` in each image.

The official list is CPython 3.11's compiled stdlib as those images build it (their Dockerfiles
install the -dev packages of OpenSSL, libffi, SQLite, bzip2, xz, ncurses, readline, gdbm,
libuuid, expat, zlib), minus CPython's own test modules (``_testcapi``, ``xxlimited``, ...)
and ``_tkinter`` (no Tk). What the musl images still lack is named in MUSL_GAPS, checked
exactly: a gap that closes fails the test until the list says so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .dockerenv import Served

OFFICIAL = [
    "_asyncio",
    "_bisect",
    "_blake2",
    "_bz2",
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_iso2022",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    "_contextvars",
    "_crypt",
    "_csv",
    "_ctypes",
    "_curses",
    "_curses_panel",
    "_datetime",
    "_dbm",
    "_decimal",
    "_elementtree",
    "_gdbm",
    "_hashlib",
    "_heapq",
    "_json",
    "_lsprof",
    "_lzma",
    "_md5",
    "_multibytecodec",
    "_multiprocessing",
    "_opcode",
    "_pickle",
    "_posixshmem",
    "_posixsubprocess",
    "_queue",
    "_random",
    "_sha1",
    "_sha256",
    "_sha3",
    "_sha512",
    "_socket",
    "_sqlite3",
    "_ssl",
    "_statistics",
    "_struct",
    "_typing",
    "_uuid",
    "_zoneinfo",
    "array",
    "audioop",
    "binascii",
    "cmath",
    "fcntl",
    "grp",
    "math",
    "mmap",
    "ossaudiodev",
    "pyexpat",
    "readline",
    "resource",
    "select",
    "spwd",
    "syslog",
    "termios",
    "unicodedata",
    "zlib",
]
# Alpine's packages are not reachable here: these libraries are not built for musl yet.
MUSL_GAPS = {"readline", "_curses", "_curses_panel", "_dbm", "_gdbm", "_uuid", "_crypt"}
# What a module is for, beyond importing: the libraries behind it really work.
SMOKE = """
import ctypes, decimal, hashlib, json, sqlite3, ssl, bz2, lzma, zlib, sys
missing = []
for name in sys.argv[1:]:
    try:
        __import__(name)
    except ImportError:
        missing.append(name)
assert decimal.Decimal("1.1") + decimal.Decimal("2.2") == decimal.Decimal("3.3")
assert ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)(41) == 42
assert hashlib.sha256(b"x").hexdigest().startswith("2d711642") and "sha3_256" in hashlib.algorithms_available
assert ssl.OPENSSL_VERSION.startswith("OpenSSL 3"), ssl.OPENSSL_VERSION
con = sqlite3.connect(":memory:")
assert con.execute("select json_extract('[1,2]', '$[1]')").fetchone() == (2,)
for mod in (bz2, lzma, zlib):
    assert mod.decompress(mod.compress(b"krakend" * 100)) == b"krakend" * 100
print(json.dumps({"missing": missing}))
"""


def modules_in(client: Any, image: str, platform: str) -> dict[str, Any]:
    out = client.containers.run(
        image, ["python3", "-c", SMOKE, *OFFICIAL], platform=platform, network_mode="none", remove=True
    )
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
@pytest.mark.parametrize("flavour", ["slim", "alpine"])
def test_official_stdlib_modules_import(docker_client: Any, served: Served, flavour: str, platform: str) -> None:
    image = served.slim if flavour == "slim" else served.alpine
    result = modules_in(docker_client, image, platform)
    expected = MUSL_GAPS if flavour == "alpine" else set()
    assert set(result["missing"]) == expected, f"{image} ({platform}) lacks {result['missing']}"
