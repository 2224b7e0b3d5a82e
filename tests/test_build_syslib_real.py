"""``before-build`` and ``environment`` on real projects that need a system library the builder
lacks. pyyaml 6.0.4 compiles ``yaml._yaml`` only against libyaml: without it the build is a KO
naming ``yaml.h`` and the hook; with libyaml's real sources (Debian's upstream tarball) vendored
and compiled static and PIC by ``before-build`` with the target's ``$CC``, every target builds
an extension that carries libyaml inside it and parses with ``CLoader`` in its runtime image.
lxml 6.1.3 stops before compiling without libxml2: its KO names libxml2 and the hook."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from krakend_tools.manifest.platforms import Target
from tests.conftest import ROOT
from tests.dockerenv import Served
from tests.test_build_real import _build, _check_wheel, _elf_of_wheel, _qemu_arm64, run_in_runtime

CACHE = ROOT / ".cache" / "syslib"  # fetched once, checked by sha256, not committed
LIBYAML = ("libyaml", "libyaml_0.2.5.orig.tar.gz", "fa240dbf262be053f3898006d502d514936c818e422afdcf33921c63bed9bf2e")
TARGETS = ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64")

# libyaml has CMake and autotools builds; the builder has neither (nor make): compile src/*.c
# with the version macros its CMakeLists.txt puts in config.h, archive them with zig ar
BUILD_LIBYAML = """# libyaml 0.2.5, static and PIC, for the target ($CC), into $1
set -eu
prefix=$1
work=/tmp/libyaml-build  # one path, so the compiler cache knows these sources again
rm -rf "$work" && mkdir -p "$work"
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \\
  vendor/libyaml_0.2.5.orig.tar.gz "$work"
src=$work/libyaml-0.2.5
mkdir -p "$prefix/include" "$prefix/lib"
for c in "$src"/src/*.c; do
  $CC -O2 -fPIC -DYAML_DECLARE_STATIC -DYAML_VERSION_MAJOR=0 -DYAML_VERSION_MINOR=2 -DYAML_VERSION_PATCH=5 \\
    '-DYAML_VERSION_STRING="0.2.5"' -I"$src/include" -c "$c" -o "$work/$(basename "$c" .c).o"
done
zig ar rcs "$prefix/lib/libyaml.a" "$work"/*.o
cp "$src/include/yaml.h" "$prefix/include/"
"""
# CPPFLAGS, not CFLAGS: setuptools' CFLAGS replaces Python's own (-O3 ...); PYYAML_FORCE_LIBYAML
# makes a failure to compile or link yaml._yaml fatal instead of a fall-back to pure Python
HOOK = """
[tool.krakend.build]
before-build = "sh vendor/build-libyaml.sh /opt/yaml"

[tool.krakend.build.environment]
CPPFLAGS = "-I/opt/yaml/include"
LDFLAGS = "-L/opt/yaml/lib"
PYYAML_FORCE_LIBYAML = "1"
"""
SMOKE = (
    "import yaml, yaml._yaml as c; assert yaml.__with_libyaml__; "
    "assert yaml.load('a: [1, 2]', Loader=yaml.CLoader) == {'a': [1, 2]}; "
    "print('smoke libyaml', c.get_version_string(), c.__file__)"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def debian_mirror() -> str:
    """The Debian mirror this host's apt uses (deb822 sources, else a one-line sources.list)."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.is_file():
        found = re.search(r"^URIs:\s*(\S+)", deb822.read_text(), re.M)
        if found:
            return found.group(1)
    legacy = Path("/etc/apt/sources.list")
    found = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text() if legacy.is_file() else "", re.M)
    assert found, "no Debian mirror in this host's apt sources"
    return found.group(1)


def debian_orig(package: str, orig: str, sha256: str) -> Path:
    """The upstream tarball of Debian bookworm's source package ``package``, fetched once with
    ``apt-get source --download-only`` through a private source list (the host's apt state is
    not touched) into .cache/syslib, checked by sha256."""
    path = CACHE / orig
    if not path.is_file():
        apt = CACHE / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "src.list").write_text(f"deb-src {debian_mirror()} bookworm main\n")
        opts = ["-o", f"Dir::Etc::SourceList={apt / 'src.list'}", "-o", "Dir::Etc::SourceParts=/dev/null"]
        opts += ["-o", f"Dir::State::Lists={apt / 'lists'}"]
        update = subprocess.run(["apt-get", *opts, "update", "-qq"], capture_output=True, text=True)
        assert update.returncode == 0, update.stderr
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            fetched = subprocess.run(
                ["apt-get", *opts, "source", "--download-only", "-qq", package], cwd=tmp, capture_output=True, text=True
            )
            assert fetched.returncode == 0, fetched.stderr
            assert _sha256(Path(tmp) / orig) == sha256, f"{orig} from Debian does not match its pin"
            shutil.move(Path(tmp) / orig, path)
    assert _sha256(path) == sha256, path
    return path


def corpus_sdist(name: str, dest: Path) -> Path:
    """The corpus' pinned sdist (scripts/fetch-corpus.py: cached, checked by sha256), unpacked in ``dest``."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch-corpus.py"), "--only", name], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archive = Path(proc.stdout.split()[-1])
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(dest, filter="data")
    return dest / top


def pyyaml_with_hook(dest: Path) -> Path:
    """pyyaml's sdist with libyaml's tarball under vendor/ and the hook that builds it."""
    project = corpus_sdist("pyyaml", dest)
    (project / "vendor").mkdir()
    shutil.copy(debian_orig(*LIBYAML), project / "vendor")
    (project / "vendor" / "build-libyaml.sh").write_text(BUILD_LIBYAML)
    with (project / "pyproject.toml").open("a") as fh:
        fh.write(HOOK)
    return project


def _message(report: dict[str, Any], target: str) -> str:
    finding = next(f for f in report["findings"] if f["name"] == target)
    assert report["exit"] == 1 and not finding["ok"], finding
    return str(finding["message"])


@pytest.mark.docker
@pytest.mark.slow
def test_pyyaml_without_libyaml_is_a_ko_naming_yaml_h_and_before_build(
    docker_env: dict[str, str], tmp_path: Path
) -> None:
    """pyyaml falls back to pure Python when yaml.h is missing: KO, with the compiler's line."""
    project = corpus_sdist("pyyaml", tmp_path)
    report = _build(project, tmp_path / "out", docker_env, "-t", "alpine/amd64", "--no-test")
    message = _message(report, "alpine/amd64")
    assert "yaml/_yaml.h:2:10: fatal error: 'yaml.h' file not found" in message, message
    assert "the builder has no yaml.h: a system library the project needs" in message, message
    assert "[tool.krakend.build] before-build and environment" in message, message
    assert not list((tmp_path / "out").rglob("*.whl"))


@pytest.mark.docker
@pytest.mark.slow
def test_lxml_without_libxml2_is_a_ko_naming_libxml2_and_before_build(
    docker_env: dict[str, str], tmp_path: Path
) -> None:
    """lxml asks pkg-config and xml2-config for libxml2 and stops before any compiler runs."""
    project = corpus_sdist("lxml", tmp_path)
    report = _build(project, tmp_path / "out", docker_env, "-t", "generic/amd64", "--no-test")
    message = _message(report, "generic/amd64")
    assert message == (
        "build failed (exit 1): Error: Please make sure the libxml2 and libxslt development packages are"
        " installed. (the builder lacks a system library the project needs; provide it with"
        " [tool.krakend.build] before-build and environment, see docs/build.md)"
    )


@pytest.mark.docker
@pytest.mark.slow
def test_pyyaml_with_before_build_links_libyaml_statically_and_parses_with_cloader(
    docker_env: dict[str, str], docker_client: Any, served: Served, tmp_path: Path
) -> None:
    project = pyyaml_with_hook(tmp_path)
    report = _build(project, tmp_path / "out", docker_env, "-t", "all", "-j", "2", "--no-test", timeout=1500)
    assert report["exit"] == 0, report
    for name in TARGETS:
        target = Target.parse(name)
        folder = tmp_path / "out" / f"{target.flavour}-{target.arch}"
        log = (folder / "build.log").read_text()
        assert "+ before-build: sh vendor/build-libyaml.sh /opt/yaml" in log
        assert re.search(r"-O3 .*-I/opt/yaml/include .*-c yaml/_yaml\.c", log), "Python's own flags kept"
        wheel = next(folder.glob("*.whl"))
        assert wheel.name.startswith("pyyaml-6.0.4-cp311-cp311-"), wheel.name
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
        assert [n for n in names if re.fullmatch(r"yaml/_yaml\.cpython-311-.*\.so", n)], names
        assert not [n for n in names if ".libs/" in n], names  # nothing bundled: libyaml is inside
        (tmp_path / target.arch / target.flavour).mkdir(parents=True)
        _check_wheel(wheel, target, tmp_path / target.arch / target.flavour)
        for member, _, needed in _elf_of_wheel(wheel, tmp_path / target.arch / target.flavour):
            assert not [n for n in needed if "yaml" in n], (member, needed)
            symbols = subprocess.run(
                ["readelf", "-s", "--wide", str(tmp_path / target.arch / target.flavour / Path(member).name)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            defined = re.search(r"FUNC\s+\w+\s+\w+\s+\d+\s+yaml_parser_initialize\b", symbols)
            assert defined, f"{member}: libyaml's yaml_parser_initialize is not linked in"
        if target.arch == "arm64" and not _qemu_arm64():
            continue
        smoke = run_in_runtime(docker_client, served, target, wheel, SMOKE)
        assert "smoke libyaml 0.2.5 " in smoke, smoke
