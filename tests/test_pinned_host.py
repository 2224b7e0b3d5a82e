"""The host facts ``krakend version`` reports, each compared with the same fact computed
another way (never "x86_64 or aarch64", "glibc or musl")."""

from __future__ import annotations

import json
import os
import platform
import sys

import pytest

from krakend_tools.manifest.platforms import MACHINE_ARCH

from .conftest import run_krakend


def host_libc() -> tuple[str, str]:
    """(family, version) of this process's C library, from the C library itself."""
    family, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
    if not version:
        pytest.skip("the C library does not tell its version (not glibc)")
    return family, version


def test_version_names_this_host() -> None:
    family, version = host_libc()
    proc = run_krakend("version")
    assert proc.returncode == 0, proc.stderr
    v = sys.version_info
    lines = proc.stdout.splitlines()
    assert f"Libc version: {family.upper()}-{version}" in lines
    assert f"Platform: linux/{MACHINE_ARCH[platform.machine()]}" in lines
    assert any(line.startswith(f"Python version: {v.major}.{v.minor}.{v.micro} (") for line in lines)


def test_version_json_names_this_host() -> None:
    family, version = host_libc()
    proc = run_krakend("version", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    machine = platform.machine()
    expected = {"os": "linux", "arch": MACHINE_ARCH[machine], "machine": machine}
    assert json.loads(proc.stdout)["platform"] == {**expected, "libc": {"family": family, "version": version}}
