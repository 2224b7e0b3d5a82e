"""Packed relative relocations (DT_RELR, ``-z pack-relative-relocs``, Alpine 3.18's default on
x86_64): a loader older than glibc 2.36 or musl 1.2.4 does not apply them and the gateway
crashes when the file loads. Real shared objects, linked here by gcc with and without it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from krakend_tools.elf import read_elf
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Libc
from krakend_tools.plugin_test.static_phase import check_tree
from tests.conftest import gateway_manifest, run_krakend

SOURCE = "static int a, b;\nint *table[] = {&a, &b, &a, &b};\nint get(int i) { return *table[i]; }\n"


def _library(folder: Path, packed: bool) -> Path:
    """``plug/libtable.so`` (a library loaded by path, no Python C API) beside ``plug/__init__.py``."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this host")
    plug = folder / "plug"
    plug.mkdir(parents=True)
    (plug / "__init__.py").write_text("")
    (folder / "t.c").write_text(SOURCE)
    flags = ["-Wl,-z,pack-relative-relocs"] if packed else []
    out = plug / "libtable.so"
    proc = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", *flags, str(folder / "t.c"), "-o", str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    dynamic = subprocess.run(["readelf", "-d", str(out)], capture_output=True, text=True, check=True).stdout
    assert ("(RELR)" in dynamic) == packed, dynamic  # the oracle: the linker did what was asked
    return plug


@pytest.mark.parametrize("packed", [True, False])
def test_the_elf_reader_sees_dt_relr_as_readelf_does(tmp_path: Path, packed: bool) -> None:
    plug = _library(tmp_path, packed)
    assert read_elf(plug / "libtable.so").relr is packed


@pytest.mark.parametrize(
    ("libc", "packed", "ko"),
    [
        ("GLIBC-2.35", True, True),
        ("GLIBC-2.36", True, False),
        ("GLIBC-2.31", False, False),
    ],
)
def test_a_packed_file_is_a_ko_below_the_first_loader_that_applies_it(
    tmp_path: Path, libc: str, packed: bool, ko: bool
) -> None:
    plug = _library(tmp_path / "p", packed)
    manifest = Manifest.from_dict(json.loads(gateway_manifest(tmp_path, libc=libc).read_text()))
    problems = [p for p in check_tree(plug, manifest).problems if "DT_RELR" in p]
    want = (
        [
            "libtable.so packs its relocations (DT_RELR), which only glibc 2.36 and later load; gateway has glibc"
            " 2.35 (link it without -z pack-relative-relocs)"
        ]
        if ko
        else []
    )
    assert problems == want


def test_test_plugin_says_so_on_the_command_line(tmp_path: Path) -> None:
    plug = _library(tmp_path / "p", True)
    manifest = gateway_manifest(tmp_path, libc="GLIBC-2.31")
    proc = run_krakend("test-plugin", "-s", "--manifest", str(manifest), str(plug))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "packs its relocations (DT_RELR), which only glibc 2.36 and later load" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("text", "loads"),
    [
        ("GLIBC-2.35", False),
        ("GLIBC-2.36", True),
        ("GLIBC-2.41", True),
        ("MUSL-1.2.3", False),
        ("MUSL-1.2.4", True),
        ("MUSL-1.2.5", True),
    ],
)
def test_which_loaders_apply_packed_relocations(text: str, loads: bool) -> None:
    assert Libc.parse(text).loads_relr is loads
