"""krakend version: the manifest, its schema, overrides and cross-target manifests."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import jsonschema
import pytest
from packaging import tags
from packaging.markers import default_environment

from krakend_tools.errors import InputError
from krakend_tools.manifest import facts
from krakend_tools.manifest import model as mf
from krakend_tools.manifest.platforms import MACHINE_ARCH, Libc, Target, needed_libc, platform_tags

from .conftest import run_krakend


def test_version_json_round_trips(host_manifest: Path) -> None:
    data = json.loads(host_manifest.read_text())
    loaded = mf.load(host_manifest)
    assert loaded.to_dict() == data
    assert data["python"]["version"] == ".".join(map(str, sys.version_info[:3]))


def test_manifest_matches_the_full_json_schema(host_manifest: Path) -> None:
    schema = json.loads(mf.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(host_manifest.read_text()), schema)


def test_tags_equal_packaging_sys_tags() -> None:
    manifest = facts.from_facts(facts.introspect(None))
    assert manifest.tags == [str(t) for t in tags.sys_tags()]


def test_marker_environment_equals_packaging() -> None:
    manifest = facts.from_facts(facts.introspect(None))
    assert manifest.marker_environment == dict(default_environment())
    assert len(manifest.marker_environment) == 11


def test_host_libraries_carry_symbol_versions() -> None:
    manifest = facts.from_facts(facts.introspect(None))
    libc = manifest.libraries["libc.so.6"]
    host = manifest.platform.libc
    assert f"GLIBC_{host.version_text}" in libc.symbol_versions
    oldest = {"x86_64": "GLIBC_2.2.5", "aarch64": "GLIBC_2.17"}[platform.machine()]  # each arch's first glibc
    assert oldest in libc.symbol_versions
    if "libstdc++.so.6" in manifest.libraries:
        assert any(v.startswith("GLIBCXX_3.4") for v in manifest.libraries["libstdc++.so.6"].symbol_versions)


def test_version_text_is_krakend_style() -> None:
    proc = run_krakend("version", "--gateway-name", "acme-gw", "--gateway-version", "2.7.1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "Gateway: acme-gw 2.7.1" in lines
    v = sys.version_info
    assert any(
        line.startswith(f"Python version: {v.major}.{v.minor}.{v.micro} (cpython, cp{v.major}{v.minor}, ")
        for line in lines
    )
    assert f"Libc version: GLIBC-{os.confstr('CS_GNU_LIBC_VERSION').split()[1]}" in lines  # type: ignore[union-attr]
    assert f"Platform: linux/{MACHINE_ARCH[platform.machine()]}" in lines


def test_version_of_another_interpreter(tmp_path: Path) -> None:
    """--python runs the introspection in that interpreter, without the tool installed there."""
    other = Path(sys.base_prefix) / "bin" / "python3"
    proc = run_krakend("version", "-o", "json", "--python", str(other))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["python"]["executable"] != sys.executable
    assert "typer" not in data["distributions"] or other.resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("{", "invalid JSON"),
        ('{"schema_version": 1}', "missing 'gateway'"),
        ("[]", "expected object"),
    ],
)
def test_invalid_manifest_is_one_line_exit_2(tmp_path: Path, bad: str, needle: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(bad)
    proc = run_krakend("check-plugin", "-s", str(tmp_path / "none.lock"), "--manifest", str(path))
    assert proc.returncode == 2
    # the lockfile is read first; point it at a real one to reach the manifest
    lock = tmp_path / "requirements.txt"
    lock.write_text("idna==3.6\n")
    proc = run_krakend("check-plugin", "-s", str(lock), "--manifest", str(path))
    assert proc.returncode == 2
    assert needle in proc.stderr and str(path) in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_manifest_with_wrong_types_is_rejected(host_manifest: Path, tmp_path: Path) -> None:
    data = json.loads(host_manifest.read_text())
    data["platform"]["libc"]["family"] = "bionic"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="bionic"):
        mf.load(path)


def test_overrides_recompute_tags(host_manifest: Path) -> None:
    base = mf.load(host_manifest)
    other = base.with_overrides("3.12", "GLIBC-2.17")
    assert other.python.version.startswith("3.12.")
    assert other.tags[1].startswith("cp312-cp312-manylinux_2_17_")
    assert all("manylinux_2_18" not in t for t in other.tags)
    assert other.python.ext_suffix.startswith(".cpython-312-")
    with pytest.raises(InputError):
        base.with_overrides("three")


def test_platform_tags_follow_libc_versions() -> None:
    glibc = platform_tags(Libc.parse("GLIBC-2.36"), "x86_64")
    assert glibc[:2] == ["linux_x86_64", "manylinux_2_36_x86_64"]
    assert "manylinux2014_x86_64" in glibc and "manylinux_2_37_x86_64" not in glibc
    musl = platform_tags(Libc.parse("MUSL-1.2.4"), "aarch64")
    assert musl[1:4] == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "musllinux_1_0_aarch64"]
    # versions, not strings: 2.9 < 2.10
    assert Libc.parse("GLIBC-2.9") < Libc.parse("GLIBC-2.10")
    assert needed_libc("manylinux2014_aarch64") == Libc("glibc", (2, 17))
    assert needed_libc("musllinux_1_1_x86_64") == Libc("musl", (1, 1))


def test_target_parsing() -> None:
    assert str(Target.parse("alpine/arm64")) == "alpine/arm64"
    assert Target.parse("generic/x86_64").arch == "amd64"
    with pytest.raises(InputError):
        Target.parse("windows/amd64")


def test_symbol_versions_match_readelf() -> None:
    import re
    import shutil
    import subprocess

    if shutil.which("readelf") is None:
        pytest.skip("binutils' readelf is not installed")
    manifest = facts.from_facts(facts.introspect(None))
    libs = list(manifest.libraries.items())
    for name, lib in libs[:: max(1, len(libs) // 60)] + [("libc.so.6", manifest.libraries["libc.so.6"])]:
        out = subprocess.run(["readelf", "-V", "--wide", lib.path], capture_output=True, text=True).stdout
        if "Version definition section" not in out:
            assert lib.symbol_versions == [], name
            continue
        section = out.split("Version definition section", 1)[1].split("Version needs section")[0]
        names = re.findall(r"Flags: (\w+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)", section)
        assert lib.symbol_versions == [v for flags, v in names if flags != "BASE"], name
