"""krakend build on real projects, the parts that need no engine: decisive log lines, lost
extensions, build requirements (real pip on this host), hooks and the default target."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from krakend_tools.build import options, verdicts
from krakend_tools.build import requirements as buildreqs
from krakend_tools.cache import FetchError
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Target
from tests.conftest import FIXTURES, gateway_manifest, run_krakend

PIP_NOT_FOUND = """\
  Processing /src
  ERROR: Could not find a version that satisfies the requirement cython>=3 (from versions: none)
  ERROR: No matching distribution found for cython>=3
  error: subprocess-exited-with-error
  note: This error originates from a subprocess, and is likely not a problem with pip.
"""


def test_pip_error_line_not_its_closing_note() -> None:
    assert verdicts.error_line(PIP_NOT_FOUND) == "ERROR: No matching distribution found for cython>=3"


def test_first_compiler_error_wins_and_a_missing_header_says_how_to_provide_it() -> None:
    log = (
        "building 'lxml.etree' extension\n"
        "src/lxml/etree.c:96:10: fatal error: 'libxml/xmlversion.h' file not found\n"
        "src/lxml/etree.c:99:1: error: unknown type name 'xmlDoc'\n"
        "error: command '/usr/local/bin/krakend-cc' failed with exit code 1\n"
        "note: This error originates from a subprocess\n"
    )
    line = verdicts.error_line(log)
    assert line.startswith("src/lxml/etree.c:96:10: fatal error: 'libxml/xmlversion.h' file not found")
    assert "the builder has no libxml/xmlversion.h" in line and "before-build" in line


def test_traceback_last_line_when_no_compiler_or_pip_error() -> None:
    log = "Traceback (most recent call last):\n  File \"x\", line 1\nModuleNotFoundError: No module named 'skbuild'\n"
    assert verdicts.error_line(log) == "ModuleNotFoundError: No module named 'skbuild'"


def _wheel(folder: Path, name: str) -> Path:
    """A wheel named ``name``: a shared object inside unless it is tagged pure."""
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
        if not name.endswith("-none-any.whl"):
            zf.writestr("pkg/_speed.cpython-311-x86_64-linux-gnu.so", b"\x7fELF")
    return path


def test_pure_wheel_from_compiled_sources_is_lost(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "_crc.c").write_text("int x;")
    wheel = _wheel(tmp_path, "pkg-1.0-py3-none-any.whl")
    log = "src/pkg/_crc.c:3:5: error: use of undeclared identifier 'nope'\nWARNING: optional extension failed\n"
    why = verdicts.lost_extensions([wheel], tmp_path, log)
    assert why == (
        "pkg-1.0-py3-none-any.whl is pure Python, yet the project compiles src/pkg/_crc.c: "
        "src/pkg/_crc.c:3:5: error: use of undeclared identifier 'nope'"
    )
    assert "no extension module was built" in (verdicts.lost_extensions([wheel], tmp_path, "") or "")


def test_sources_in_tests_or_docs_do_not_count_and_a_binary_wheel_is_kept(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helper.c").write_text("int x;")
    pure = _wheel(tmp_path, "pkg-1.0-py3-none-any.whl")
    assert verdicts.lost_extensions([pure], tmp_path, "") is None
    (tmp_path / "pkg.c").write_text("int x;")
    binary = _wheel(tmp_path, "pkg-1.0-cp311-cp311-linux_x86_64.whl")
    assert verdicts.lost_extensions([binary], tmp_path, "") is None
    assert "build went on after a compiler error" in (
        verdicts.lost_extensions([binary], tmp_path, "pkg.c:1:1: error: boom\n") or ""
    )


def test_version_zero_from_scm_is_named(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "pkg-0.0.0-py3-none-any.whl")
    assert "version 0.0.0" in (verdicts.wheel_version_problem([wheel], ["setuptools-scm>=8"]) or "")
    assert verdicts.wheel_version_problem([wheel], ["setuptools"]) is None


def test_build_system_defaults_and_requires(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    assert buildreqs.build_system(tmp_path).requires == ["setuptools>=40.8.0"]
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64", "Cython>=3", " "]\nbuild-backend = "setuptools.build_meta"\n'
    )
    found = buildreqs.build_system(tmp_path)
    assert found.requires == ["setuptools>=64", "Cython>=3"] and found.backend == "setuptools.build_meta"


def test_missing_requirements_are_read_from_the_builder_log() -> None:
    log = 'x\nkrakend-build-wheel: build requirements not in the builder: ["cmake>=3.15", "ninja"]\n'
    assert buildreqs.missing_in_log(log) == ["cmake>=3.15", "ninja"]
    assert buildreqs.missing_in_log("krakend-build-wheel: build requirements not in the builder: {bad") == []
    assert buildreqs.uses_default_builder(None)
    assert buildreqs.uses_default_builder("X=1 krakend-build-wheel /src /out")
    assert not buildreqs.uses_default_builder("make wheel")


def _manifest(tmp_path: Path, target: str, libc: str) -> Manifest:
    from krakend_tools.manifest.model import load

    return load(str(gateway_manifest(tmp_path, target=target, libc=libc)))


def test_pip_platforms_and_default_target_follow_the_manifest(tmp_path: Path) -> None:
    musl = _manifest(tmp_path, "alpine/arm64", "MUSL-1.2.4")
    assert buildreqs.platform_tags(musl) == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64"]
    assert options.manifest_target(musl) == Target("alpine", "arm64")
    glibc = _manifest(tmp_path, "generic/amd64", "GLIBC-2.19")
    assert buildreqs.platform_tags(glibc) == [
        "manylinux_2_19_x86_64",
        "manylinux_2_18_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
    ]
    assert options.manifest_target(glibc) == Target("generic", "amd64")


@pytest.mark.slow
def test_a_build_requirement_pip_cannot_find_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real pip on this host, for the builder's platform: the ERROR line naming the requirement."""
    monkeypatch.setenv("KRAKEND_CACHE_DIR", str(tmp_path / "cache"))
    manifest = _manifest(tmp_path, "alpine/amd64", "MUSL-1.2.4")
    with pytest.raises(FetchError) as err:
        buildreqs.fetch(["setuptools==0.0.0.1"], manifest)
    assert str(err.value) == "ERROR: No matching distribution found for setuptools==0.0.0.1"
    assert not list((tmp_path / "cache").rglob("*.whl"))


@pytest.mark.slow
def test_build_requirements_fetched_for_the_builder_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEND_CACHE_DIR", str(tmp_path / "cache"))
    manifest = _manifest(tmp_path, "alpine/amd64", "MUSL-1.2.4")
    said: list[str] = []
    folder = buildreqs.fetch(["setuptools>=61", "setuptools-scm>=8"], manifest, said.append)
    names = sorted(p.name.split("-")[0].lower() for p in folder.glob("*.whl"))
    assert "setuptools" in names and "setuptools_scm" in names and "packaging" in names  # and their dependencies
    assert said and "setuptools-scm>=8" in said[0]
    assert buildreqs.fetch(["setuptools-scm>=8", "setuptools>=61"], manifest, said.append) == folder
    assert len(said) == 1  # the second time from the cache, same set in any order
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(buildreqs.as_tar(folder, ["setuptools>=61"]))) as tar:
        names = tar.getnames()
    assert "opt/krakend-build-requires/requires.json" in names


def test_hooks_from_the_build_table(tmp_path: Path) -> None:
    opts = options.BuildOptions(tmp_path, [Target.parse("alpine/amd64")])
    options.apply_config(
        opts,
        {"before-build": "make -C vendor", "environment": {"CFLAGS": "-I/x"}, "allow-missing-extensions": True},
    )
    assert opts.before_build == "make -C vendor" and opts.environment == {"CFLAGS": "-I/x"}
    assert opts.allow_missing_extensions
    for bad in ({"before-build": ["x"]}, {"environment": {"KRAKEND_ZIG_TARGET": "x"}}, {"environment": {"A B": "1"}}):
        with pytest.raises(InputError):
            options.apply_config(options.BuildOptions(tmp_path, []), bad)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"command": 3}, "[tool.krakend.build] command must be a shell command (a string)"),
        ({"command": ["make"]}, "[tool.krakend.build] command must be a shell command (a string)"),
        ({"registry": 5000}, "[tool.krakend.build] registry must be a registry HOST[:PORT] (a string)"),
        ({"before-build": True}, "[tool.krakend.build] before-build must be a shell command (a string)"),
        ({"types": "server"}, "[tool.krakend.build] types must be a list of strings"),
        ({"types": [1]}, "[tool.krakend.build] types must be a list of strings"),
    ],
)
def test_a_build_table_value_of_the_wrong_kind_is_bad_input(
    tmp_path: Path, table: dict[str, object], message: str
) -> None:
    """Not turned into a string: ``command = 3`` is a mistake, not the command ``3``."""
    with pytest.raises(InputError) as err:
        options.apply_config(options.BuildOptions(tmp_path, []), table)
    assert str(err.value) == message


def test_build_table_strings_are_taken_and_empty_ones_are_unset(tmp_path: Path) -> None:
    opts = options.BuildOptions(tmp_path, [])
    options.apply_config(opts, {"command": "make wheel", "registry": "", "types": ["server", "client"]})
    assert (opts.command, opts.registry, opts.types) == ("make wheel", None, ["server", "client"])


def test_build_without_target_builds_the_manifests_own(tmp_path: Path) -> None:
    """No -t: the gateway's target (here alpine/arm64), as the preflight shows (no engine)."""
    manifest = gateway_manifest(tmp_path, target="alpine/arm64", libc="MUSL-1.2.4")
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    proc = run_krakend("build", str(FIXTURES / "example-plugin"), "--manifest", str(manifest), env=env)
    assert proc.returncode == 2 and "cannot reach the Docker engine" in proc.stderr, proc.stderr
    assert "at least one --target" not in proc.stderr


def test_a_library_the_linker_cannot_find_is_named() -> None:
    log = 'error: unable to find dynamic system library "xml2" using strategy paths_first. searched paths: none\n'
    line = verdicts.error_line(log + "note: This error originates from a subprocess\n")
    assert line.startswith('error: unable to find dynamic system library "xml2"')
    assert "the builder has no xml2" in line
