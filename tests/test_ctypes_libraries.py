"""Shared libraries loaded by path (ctypes, cffi's ABI mode) are libraries, not modules.

A ``.so`` with no ``PyInit_`` and no Python C-API use is checked like every ELF file (CPU,
libc, symbol versions, needed libraries) and never imported; an extension module that uses
the C API but lost its ``PyInit_`` is still a KO. Proved on libraries compiled here and on
pycryptodome's official wheels (``scripts/fetch-wheels.sh``: 47 such libraries each).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from krakend_tools.plugin_test.static_phase import check_tree, check_wheel

from .conftest import run_krakend
from .test_static import CI, PY_INCLUDE, make_manifest, need

ROOT = Path(__file__).resolve().parent.parent
WHEELS = Path(os.environ.get("KRAKEND_WHEELS") or ROOT / ".cache" / "wheels")
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"

# a library as pycryptodome writes them: plain C, libc only (memfd_create: GLIBC_2.27)
LIBRARY_C = """
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
int arc4_init(const char *key, int n) { return memfd_create(key, 0) + (int)strlen(key) + n; }
int arc4_add(int a, int b) { return a + b; }
"""
# an extension module that uses the C API but defines no PyInit_ (a broken build)
NO_INIT_C = """
#include <Python.h>
PyObject *helper(void) { return PyLong_FromLong(1); }
"""
PLUGIN = """
import ctypes, pathlib
from Crypto.Cipher import ARC4

_lib = ctypes.CDLL(str(pathlib.Path(__file__).parent / "Crypto" / "Cipher" / "_ARC4.abi3.so"))
assert ARC4.new(b"0123456789abcdef").encrypt(b"hello") != b"hello"


class HandlerRegisterer:
    def register_handlers(self, register):
        def factory(extra_config, next_handler):
            return next_handler
        register("arc4", factory)
"""


def compile_c(out: Path, source: str, compiler: str = "gcc", *flags: str) -> Path:
    import subprocess

    src = out.with_suffix(".c")
    src.write_text(source)
    proc = subprocess.run(
        [need(compiler), "-shared", "-fPIC", "-O1", "-o", str(out), str(src), *flags], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    src.unlink()
    return out


def pycryptodome(platform: str) -> Path:
    found = sorted(WHEELS.glob(f"pycryptodome-*{platform}.whl"))
    if not found:
        message = f"no pycryptodome {platform} wheel in {WHEELS}: run scripts/fetch-wheels.sh"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return found[-1]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """``pkg/`` with a pure-Python ``__init__`` and a ctypes library named like a module."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    compile_c(pkg / "_ARC4.abi3.so", LIBRARY_C)
    return tmp_path


def test_library_named_like_a_module_is_a_library(package: Path) -> None:
    result = check_tree(package, make_manifest())
    assert result.ok, result.problems
    assert result.modules == [] and result.libraries == ["pkg/_ARC4.abi3.so"]
    assert result.notes == [
        "1 shared library with no PyInit_ and no Python C-API use (loaded by path: ctypes, cffi) "
        "checked as libraries, not imported"
    ]
    assert result.to_dict()["libraries"] == ["pkg/_ARC4.abi3.so"]


def test_library_suffix_of_another_python_is_no_problem(package: Path) -> None:
    lib = package / "pkg" / "_ARC4.abi3.so"
    lib.rename(lib.with_name("_ARC4.cpython-312-x86_64-linux-gnu.so"))
    assert check_tree(package, make_manifest()).ok


def test_library_is_still_checked_for_symbol_versions(package: Path) -> None:
    problems = check_tree(package, make_manifest(libc="2.17")).problems
    assert problems == ["needs GLIBC_2.27 (memfd_create in pkg/_ARC4.abi3.so), gateway has 2.17"]


def test_library_is_still_checked_for_cpu_and_libc(tmp_path: Path) -> None:
    compile_c(tmp_path / "_ARC4.abi3.so", LIBRARY_C, "aarch64-linux-gnu-gcc")
    assert check_tree(tmp_path, make_manifest()).problems == ["_ARC4.abi3.so is aarch64, gateway is x86_64"]
    musl = tmp_path / "musl"
    musl.mkdir()
    compile_c(musl / "_ARC4.abi3.so", LIBRARY_C.replace("memfd_create(key, 0)", "0"), "musl-gcc")
    assert check_tree(musl, make_manifest()).problems == ["_ARC4.abi3.so links musl (libc.so), gateway has glibc 2.36"]


def test_library_needs_are_checked(package: Path) -> None:
    lib = package / "pkg" / "_ARC4.abi3.so"
    compile_c(lib, LIBRARY_C, "gcc", "-Wl,--no-as-needed", "-lz")
    result = check_tree(package, make_manifest())  # a --from-lock manifest: the libc's base set only
    assert result.problems == []
    assert result.warnings == [
        "needs libz.so.1 (in pkg/_ARC4.abi3.so): the manifest does not list all the gateway's "
        "libraries, so whether it has it is unknown"
    ]


def test_extension_using_the_c_api_without_pyinit_is_a_ko(tmp_path: Path) -> None:
    if not (Path(PY_INCLUDE) / "Python.h").is_file():
        pytest.skip(f"no Python.h in {PY_INCLUDE}")
    compile_c(tmp_path / f"_ARC4{SUFFIX}", NO_INIT_C, "gcc", f"-I{PY_INCLUDE}")
    result = check_tree(tmp_path, make_manifest())
    assert result.problems == [
        f"_ARC4{SUFFIX}: no PyInit__ARC4, so 'import _ARC4' fails (it defines no PyInit_ function)"
    ]
    assert result.libraries == []


@pytest.mark.parametrize(
    ("platform", "machine", "family", "libc"),
    [("manylinux_2_17_x86_64", "x86_64", "glibc", "2.17"), ("musllinux_1_2_aarch64", "aarch64", "musl", "1.2.2")],
)
def test_pycryptodome_official_wheel(platform: str, machine: str, family: str, libc: str) -> None:
    wheel = pycryptodome(platform)
    with zipfile.ZipFile(wheel) as zf:
        shared = sorted(n for n in zf.namelist() if n.endswith(".so"))
    assert len(shared) >= 40 and "Crypto/Cipher/_ARC4.abi3.so" in shared
    result = check_wheel(wheel, make_manifest(machine=machine, family=family, libc=libc, python="3.11.7"))
    assert result.ok, result.problems
    assert result.libraries == shared and result.modules == []
    other = check_wheel(wheel, make_manifest(machine=machine, family="glibc" if family == "musl" else "musl"))
    assert other.problems and f"links {family}" in other.problems[0]


def test_pycryptodome_wheel_with_test_plugin(tmp_path: Path, host_manifest: Path) -> None:
    """The static phase passes; the import phase imports the plugin, never the libraries."""
    wheel = pycryptodome("manylinux_2_17_x86_64")
    plugin = tmp_path / "cryptoplug-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(plugin, "w") as out:
        for info in src.infolist():
            if ".dist-info/" not in info.filename:
                out.writestr(info, src.read(info))
        out.writestr("cryptoplug.py", PLUGIN)
        out.writestr("cryptoplug-1.0.dist-info/top_level.txt", "cryptoplug\n")
        out.writestr("cryptoplug-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: cryptoplug\nVersion: 1.0\n")
    proc = run_krakend("test-plugin", "-s", "-o", "json", "--manifest", str(host_manifest), str(plugin))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    (artifact,) = data["artifacts"]
    assert artifact["modules"] == ["cryptoplug"]
    assert len(artifact["static"]["libraries"]) >= 40 and artifact["static"]["problems"] == []
    assert [p["module"] for p in artifact["probes"]] == ["cryptoplug"]


def test_a_lone_library_is_not_a_plugin(package: Path, host_manifest: Path) -> None:
    lib = package / "pkg" / "_ARC4.abi3.so"
    proc = run_krakend("test-plugin", "-s", "--static-only", "--manifest", str(host_manifest), str(lib))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a shared library, not a Python module (no PyInit_ function, no Python C-API use)" in proc.stdout
    assert "PyInit__ARC4" not in proc.stdout


def test_plugin_folder_with_a_library_beside_the_plugin(tmp_path: Path, host_manifest: Path) -> None:
    """The gateway's scan picks every entry matching the pattern: a library there is a KO."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    shutil.copy(ROOT / "fixtures" / "elf" / "plugmod_registerers.py", folder / "good.py")
    compile_c(folder / "libarc4.so", LIBRARY_C)
    proc = run_krakend(
        "test-plugin", "-s", "--static-only", "--pattern", ".", "--manifest", str(host_manifest), str(folder)
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "libarc4.so: a shared library, not a Python module" in proc.stdout
