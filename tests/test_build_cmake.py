"""krakend build on a real scikit-build-core (CMake) project: levenshtein 0.27.5 from its PyPI
sdist (C++17 with interprocedural optimisation, the corpus' pinned entry). scikit-build-core asks
for cmake and ninja from ``get_requires_for_build_wheel``: krakend fetches them on this host and
the builder runs them from its offline build environment. Built natively for musl (alpine/amd64:
cmake's newest musllinux wheel bundles libraries with DT_RELR relocations, which the builder's musl
1.2.3 cannot load, so its musllinux_1_1 wheel is fetched instead) and cross-compiled for glibc
arm64 (generic/arm64: CMake told by a toolchain file, FindPython on the target's headers and
sysconfig). Each wheel is checked with ``auditwheel show`` and readelf, and its extension called
in its runtime image (arm64 under QEMU when the host has it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from krakend_tools.build.requirements import relr_members
from krakend_tools.manifest.platforms import Target
from tests.conftest import gateway_manifest
from tests.dockerenv import Served
from tests.test_build_real import _build, _check_wheel, _qemu_arm64, run_in_runtime
from tests.test_build_syslib_real import corpus_sdist

TARGETS = ("alpine/amd64", "generic/arm64")
SUFFIX = {"alpine/amd64": "cpython-311-x86_64-linux-musl", "generic/arm64": "cpython-311-aarch64-linux-gnu"}

# levenshtein's package __init__ imports rapidfuzz (a runtime dependency, not installed here):
# load the compiled module itself, by its full name, and call it
SMOKE = "; ".join(  # one line: run_in_runtime passes it to python -c through sh
    [
        "import glob, importlib.machinery, importlib.util, site",
        'path = glob.glob(site.getsitepackages()[0] + "/Levenshtein/levenshtein_cpp.*.so")[0]',
        'loader = importlib.machinery.ExtensionFileLoader("Levenshtein.levenshtein_cpp", path)',
        "spec = importlib.util.spec_from_file_location(loader.name, path, loader=loader)",
        "module = importlib.util.module_from_spec(spec)",
        "loader.exec_module(module)",
        'assert module.median(["SpSm", "mpamm", "Spam", "Spa", "Sua", "hSam"]) == "Spam"',
        'assert module.setratio(["newspaper", "litter bin"], ["litter bin", "newspaper"]) == 1.0',
        'assert module.seqratio(["a", "b"], ["a", "c"]) == 0.5',
        'print("smoke", path)',
    ]
)

PACKED = "static int a, b;\nint *table[] = {&a, &b, &a, &b};\nint get(int i) { return *table[i]; }\n"


@pytest.mark.parametrize("packed", [True, False])
def test_relr_members_finds_packed_relative_relocations(tmp_path: Path, packed: bool) -> None:
    """A shared object linked with ``-z pack-relative-relocs`` (as Alpine 3.18+ links its x86_64
    libraries) is named; the same one linked without is not."""
    if shutil.which("gcc") is None:
        pytest.skip("no gcc on this host")
    (tmp_path / "t.c").write_text(PACKED)
    flags = ["-Wl,-z,pack-relative-relocs"] if packed else []
    proc = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", *flags, str(tmp_path / "t.c"), "-o", str(tmp_path / "t.so")],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and packed:
        pytest.skip(f"this linker cannot pack relative relocations: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    dynamic = subprocess.run(["readelf", "-d", str(tmp_path / "t.so")], capture_output=True, text=True).stdout
    assert ("(RELR)" in dynamic) == packed, dynamic  # the linker did what was asked
    wheel = tmp_path / "t-1.0-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "t.so", "t.libs/libt.so")
        zf.writestr("t/__init__.py", "")
        zf.writestr("t-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    assert relr_members(wheel) == (["t.libs/libt.so"] if packed else [])


@pytest.mark.slow
def test_cmake_for_a_musl_1_2_3_builder_is_a_wheel_its_loader_can_load(tmp_path: Path) -> None:
    """Real pip on this host (the user's cache): for a musl 1.2.4 builder the newest cmake
    wheel is kept as fetched; for musl 1.2.3 one whose libraries have DT_RELR is replaced by the
    newest musllinux_1_1 cmake, which has none, and the set is cached beside the fetched one."""
    from krakend_tools.build import requirements as buildreqs
    from krakend_tools.manifest.model import load

    said: list[str] = []
    old = load(str(gateway_manifest(tmp_path, target="alpine/amd64", python="3.11.2", libc="MUSL-1.2.3")))
    new = load(str(gateway_manifest(tmp_path, target="alpine/amd64", python="3.11.2", libc="MUSL-1.2.4")))
    fetched = next(buildreqs.fetch(["cmake>=3.15"], new, said.append).glob("cmake-*.whl"))
    folder = buildreqs.fetch(["cmake>=3.15"], old, said.append)
    cmake = next(folder.glob("cmake-*.whl"))
    assert not relr_members(cmake) and "musllinux_1_1_x86_64" in cmake.name, cmake.name
    if relr_members(fetched):  # what the index serves today: cmake 4.1 and later
        assert folder.name.endswith("-norelr") and cmake.name != fetched.name
        assert buildreqs.fetch(["cmake>=3.15"], old) == folder  # from the cache
    else:
        assert cmake == fetched and (folder / buildreqs.RELR_FREE).is_file()


@pytest.fixture(scope="module")
def levenshtein(docker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("levenshtein")
    project = corpus_sdist("levenshtein", root)
    report = _build(project, root / "out", docker_env, "-t", ",".join(TARGETS), "-j", "2", "--no-test")
    return report, root


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", TARGETS)
def test_scikit_build_core_project_builds_with_cmake_and_ninja_offline(
    levenshtein: tuple[dict[str, Any], Path], docker_client: Any, served: Served, name: str
) -> None:
    report, root = levenshtein
    finding = {f["name"]: f for f in report["findings"]}[name]
    assert finding["ok"], finding
    assert report["meta"]["network"] == "none"
    target = Target.parse(name)
    folder = root / "out" / f"{target.flavour}-{target.arch}"
    log = (folder / "build.log").read_text()
    # cmake and ninja: asked for by the backend in the builder, fetched here, run from the build env
    assert "scikit_build_core.build also needs: cmake>=3.15, ninja>=1.5" in log, log[-3000:]
    assert "build environment: scikit-build-core>=0.11, cmake>=3.15, ninja>=1.5 (offline, isolated)" in log
    assert re.search(r"scikit-build-core [\d.]+ using CMake [\d.]+ \(wheel\)", log), log[-3000:]
    assert "*** Building project with Ninja..." in log
    assert f"Linking CXX shared module src/Levenshtein/levenshtein_cpp.{SUFFIX[name]}.so" in log
    if target.arch == "arm64":
        assert "cross to aarch64" in log and "CMake toolchain /tmp/krakend-aarch64-toolchain.cmake" in log
    wheels = list(folder.glob("*.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    kind = "musllinux_1_" if target.libc_family == "musl" else "manylinux_2_"
    assert wheel.name.startswith(f"levenshtein-0.27.5-cp311-cp311-{kind}"), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        assert f"Levenshtein/levenshtein_cpp.{SUFFIX[name]}.so" in zf.namelist(), zf.namelist()
    (root / name.replace("/", "-")).mkdir(exist_ok=True)
    _check_wheel(wheel, target, root / name.replace("/", "-"))
    if target.arch == "arm64" and not _qemu_arm64():
        return
    assert f"levenshtein_cpp.{SUFFIX[name]}.so" in run_in_runtime(docker_client, served, target, wheel, SMOKE)
