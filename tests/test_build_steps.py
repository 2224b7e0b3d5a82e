"""The steps of ``krakend build`` in process, with exact values: the decisive log line, lost
extensions and versions, option parsing, the source sent to the builder, the builder's command
and environment, the verdict on a finished build, the wheel cache."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from krakend_tools import cache
from krakend_tools.build import compile as compiling
from krakend_tools.build import job, options, plans, source, target, verdicts
from krakend_tools.containers import bases
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Target
from tests.conftest import FIXTURES

PIP_CLOSING = (
    "  error: subprocess-exited-with-error\n"
    "  × Getting requirements to build wheel did not run successfully.\n"
    "  note: This error originates from a subprocess, and is likely not a problem with pip.\n"
)
HINT = " with [tool.krakend.build] before-build and environment, see docs/build.md)"


# -- error_line: the one line a failed build is known by -----------------------------------------


def test_error_line_prefers_the_first_compiler_error_over_pip_and_its_note() -> None:
    log = (
        "ERROR: Could not build wheels for pkg\n"
        "pkg/a.c:1:2: error: first\n"
        "pkg/b.c:3:4: error: second\n"
        "ld.lld: error: undefined symbol: x\n" + PIP_CLOSING
    )
    assert verdicts.error_line(log) == "pkg/a.c:1:2: error: first"


def test_error_line_names_a_missing_library_with_its_remedy() -> None:
    log = "ld.lld: error: unable to find library -lxml2\n" + PIP_CLOSING
    assert verdicts.error_line(log) == (
        "ld.lld: error: unable to find library -lxml2 (the builder has no -lxml2: a system library"
        " the project needs; provide it" + HINT
    )
    header = "x.c:1:10: fatal error: zlib.h: No such file or directory\n"
    assert verdicts.error_line(header) == (
        "x.c:1:10: fatal error: zlib.h: No such file or directory (the builder has no zlib.h: a system"
        " library the project needs; provide it" + HINT
    )


def test_error_line_takes_pips_line_naming_what_it_could_not_find() -> None:
    could_not = "  ERROR: Could not find a version that satisfies the requirement x>=9 (from versions: none)\n"
    assert verdicts.error_line("ERROR: first\n" + could_not + PIP_CLOSING) == (
        "ERROR: Could not find a version that satisfies the requirement x>=9 (from versions: none)"
    )
    prefixed = "#5 12.0 pip: ERROR: No matching distribution found for y\n"
    assert verdicts.error_line(could_not + prefixed) == "#5 12.0 pip: ERROR: No matching distribution found for y"


def test_error_line_then_an_exception_then_pips_first_error() -> None:
    exception = "ERROR: Failed building wheel for z\nRuntimeError: no cmake\nValueError: later\n" + PIP_CLOSING
    assert verdicts.error_line(exception) == "ValueError: later"
    assert verdicts.error_line("ERROR: one\nERROR: two\n" + PIP_CLOSING) == "ERROR: one"


def test_error_line_last_error_that_is_not_pips_closing_remark_else_the_last_line() -> None:
    assert verdicts.error_line("make: *** [all] Error 2\nbuild stopped\n" + PIP_CLOSING) == "make: *** [all] Error 2"
    assert verdicts.error_line("step 1\nstep 2\n\n") == "step 2"
    assert verdicts.error_line(" \n") == "no output"
    assert verdicts.error_line("") == "no output"


# -- lost extensions, lost versions -----------------------------------------------------------------


def _wheel(folder: Path, name: str) -> Path:
    """A wheel named ``name``: a shared object inside unless it is tagged pure."""
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
        if not name.endswith("-none-any.whl"):
            zf.writestr("pkg/_speed.cpython-311-x86_64-linux-gnu.so", b"\x7fELF")
    return path


def test_lost_extensions_exact_verdicts(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "_speed.pyx").write_text("")
    pure = _wheel(tmp_path, "pkg-1.0-py3-none-any.whl")
    binary = _wheel(tmp_path, "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    missing = "pkg/_speed.c:1:10: fatal error: 'zlib.h' file not found\n"
    assert verdicts.lost_extensions([pure], tmp_path, "") == (
        "pkg-1.0-py3-none-any.whl is pure Python, yet the project compiles pkg/_speed.pyx:"
        " no extension module was built"
    )
    assert verdicts.lost_extensions([pure], tmp_path, missing) == (
        "pkg-1.0-py3-none-any.whl is pure Python, yet the project compiles pkg/_speed.pyx: pkg/_speed.c:1:10: fatal"
        " error: 'zlib.h' file not found (the builder has no zlib.h: a system library the project needs; provide it"
        + HINT
    )
    assert verdicts.lost_extensions([pure, binary], tmp_path, "") is None  # one binary wheel: not all pure
    assert verdicts.lost_extensions([binary], tmp_path, "a.c:1:1: error: x\nb.c:2:2: error: y\n") == (
        "the build went on after a compiler error: a.c:1:1: error: x"
    )
    assert verdicts.lost_extensions([], tmp_path, "") is None


def test_a_platform_tagged_wheel_without_a_shared_object_is_lost(tmp_path: Path) -> None:
    """pyyaml's fallback when libyaml is missing: tagged cp311-cp311-linux_x86_64, no .so in it."""
    (tmp_path / "yaml").mkdir()
    (tmp_path / "yaml" / "_yaml.pyx").write_text("")
    tagged = tmp_path / "PyYAML-6.0.4-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(tagged, "w") as zf:
        zf.writestr("yaml/__init__.py", "")
    assert verdicts.lost_extensions([tagged], tmp_path, "") == (
        "PyYAML-6.0.4-cp311-cp311-linux_x86_64.whl is pure Python, yet the project compiles yaml/_yaml.pyx:"
        " no extension module was built"
    )
    with zipfile.ZipFile(tagged, "a") as zf:
        zf.writestr("yaml/_yaml.cpython-311-x86_64-linux-gnu.so", b"\x7fELF")
    assert verdicts.lost_extensions([tagged], tmp_path, "") is None


def test_a_pure_wheel_of_a_project_without_compiled_sources_is_fine(tmp_path: Path) -> None:
    for hidden in (".eggs", "docs", "examples", "benchmarks", "node_modules"):
        (tmp_path / hidden).mkdir()
        (tmp_path / hidden / "x.c").write_text("")
    assert verdicts.lost_extensions([_wheel(tmp_path, "pkg-1.0-py3-none-any.whl")], tmp_path, "") is None


def test_wheel_version_problem_exact(tmp_path: Path) -> None:
    zero = _wheel(tmp_path, "pkg-0.0.0-py3-none-any.whl")
    assert verdicts.wheel_version_problem([zero], ["hatch-vcs"]) == (
        "pkg-0.0.0-py3-none-any.whl: version 0.0.0, the VCS-versioning build requirement found no version (the"
        " builder gets no .git): build from an sdist (PKG-INFO carries the version) or set"
        " SETUPTOOLS_SCM_PRETEND_VERSION in [tool.krakend.build.environment]"
    )
    for requirement in ("setuptools_scm[toml]>=8", "versioningit", "dunamai", "setuptools-git"):
        assert verdicts.wheel_version_problem([zero], [requirement]) is not None, requirement
    assert verdicts.wheel_version_problem([zero], ["setuptools", "hatchling"]) is None
    assert verdicts.wheel_version_problem([_wheel(tmp_path, "pkg-0.0.1-py3-none-any.whl")], ["hatch-vcs"]) is None
    assert verdicts.wheel_version_problem([tmp_path / "pkg-0.0.0-x.so"], ["hatch-vcs"]) is None


def test_human_size() -> None:
    assert [verdicts.human_size(n) for n in (0, 1023, 1024, 1536, 1024 * 1024, 5 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "1.5 KB",
        "1.0 MB",
        "5120.0 MB",
    ]


# -- options ------------------------------------------------------------------------------------------


def test_parse_image_map_errors_name_the_option_and_the_item() -> None:
    assert bases.parse_image_map([" generic/x86_64 = img:1 "], "--base-image") == {"generic/amd64": "img:1"}
    assert bases.parse_image_map([], "--base-image") == {}
    for item in ("alpine/arm64", "alpine/arm64=", "alpine/arm64=  "):
        with pytest.raises(InputError) as err:
            bases.parse_image_map([item], "--base-image")
        assert str(err.value) == f"--base-image: expected TARGET=IMAGE, got {item!r}"
    with pytest.raises(InputError) as err:
        bases.parse_image_map(["arm"], "--engine", "URL")
    assert str(err.value) == "--engine: expected TARGET=URL, got 'arm'"
    with pytest.raises(InputError) as err:
        bases.parse_image_map(["windows/amd64=x"], "--base-image")
    assert str(err.value).startswith("invalid target 'windows/amd64'")


def test_resolve_fills_in_order_and_defaults_to_the_manifests_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.krakend.build.base-images]\n"alpine/amd64" = "table:1"\n'
        '[tool.krakend.build.runtime-base-images]\n"alpine/amd64" = "table-run:1"\n'
    )
    monkeypatch.setenv("KRAKEND_BASE_IMAGES", "alpine/amd64=env:1;generic/amd64=env:2")
    monkeypatch.setenv("KRAKEND_RUNTIME_BASE_IMAGES", "generic/arm64=env-run:1")
    manifest = Manifest.from_dict(json.loads((FIXTURES / "gateway" / "manifest.json").read_text()))
    opts = options.resolve(options.BuildOptions(tmp_path, [], manifest=manifest), ["client"])
    assert opts.targets == [options.manifest_target(manifest)]
    assert opts.types == ["client"]
    assert opts.base_images == {"alpine/amd64": "table:1", "generic/amd64": "env:2"}
    assert opts.runtime_base_images == {"alpine/amd64": "table-run:1", "generic/arm64": "env-run:1"}
    asked = options.resolve(options.BuildOptions(tmp_path, [Target.parse("alpine/arm64")], types=["server"]), ["x"])
    assert asked.targets == [Target.parse("alpine/arm64")] and asked.types == ["server"]


# -- the source the builder gets ---------------------------------------------------------------------


def test_source_tar_skips_tooling_folders_egg_info_and_the_output_root(tmp_path: Path) -> None:
    for rel in (
        "pkg/__init__.py",
        "pkg/__pycache__/x.pyc",
        "pkg/sub/node_modules/y.js",
        "pkg.egg-info/PKG-INFO",
        "pkg/inner.egg-info/PKG-INFO",
        ".git/HEAD",
        ".venv/bin/python",
        "build/lib/x.py",
        "dist/old.whl",
        "out-root/generic-amd64/a.whl",
        ".tox/x",
        "setup.py",
        ".gitignore",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    data = source.source_tar(tmp_path, [tmp_path / "out-root"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == [
        "out",
        "src/.gitignore",
        "src/pkg",
        "src/pkg/__init__.py",
        "src/pkg/sub",
        "src/setup.py",
    ]
    assert members["out"].isdir() and members["out"].mode == 0o777
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values() if m.name != "out"} == {(0, 0, "root", "root")}
    sent = sum(m.size for m in members.values())
    assert source.source_size(tmp_path / "pkg", 10**6) == len("x")  # pkg/__init__.py only
    assert source.source_size(tmp_path, 10**6) == sent + len("x")  # out-root/ is counted, not sent


def test_source_size_stops_past_the_limit(tmp_path: Path) -> None:
    for n in range(5):
        (tmp_path / f"f{n}").write_bytes(b"x" * 10)
    assert source.source_size(tmp_path, 15) == 20
    assert source.source_size(tmp_path, 1000) == 50


def test_compiled_sources_in_order_and_bounded(tmp_path: Path) -> None:
    for rel in ("b/z.cpp", "a/x.c", "a/y.txt", "Tests/t.c", ".hidden/h.c", "src/m.pyx", "src/n.cc", "src/o.cxx"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert source.compiled_sources(tmp_path) == ["a/x.c", "b/z.cpp", "src/m.pyx", "src/n.cc", "src/o.cxx"]
    assert source.compiled_sources(tmp_path, limit=2) == ["a/x.c", "b/z.cpp"]


def test_untar_artifacts_keeps_top_level_files(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("./a.whl", b"w"), ("./.hidden", b"h"), ("./sub/b.so", b"s")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    files = source.untar_artifacts(buf.getvalue(), tmp_path)
    assert files == [tmp_path / "a.whl"]
    assert (tmp_path / "sub" / "b.so").read_bytes() == b"s"


# -- the builder's command and environment -----------------------------------------------------------


def _plan(target_name: str = "generic/arm64", cross: bool = True) -> plans.Plan:
    manifest = Manifest.from_dict(json.loads((FIXTURES / "gateway" / "manifest.json").read_text()))
    return plans.Plan(
        Target.parse(target_name),
        None,  # type: ignore[arg-type]  # no engine: nothing here runs
        "builder:1",
        "linux/amd64",
        cross,
        None,
        Path("out"),
        manifest,
    )


def test_builder_command_and_environment(tmp_path: Path) -> None:
    opts = options.BuildOptions(tmp_path, [], environment={"CFLAGS": "-O2"})
    assert compiling.builder_command(opts) == ["krakend-run", "krakend-build-wheel", "/src", "/out"]
    plan = _plan()
    assert compiling.build_env(plan, opts) == {
        "CFLAGS": "-O2",
        "SRC": "/src",
        "OUT": "/out",
        "KRAKEND_TARGET": "generic/arm64",
        "PIP_CACHE_DIR": "/cache/pip",
        "KRAKEND_NETWORK": "0",
        "KRAKEND_ZIG_TARGET": plan.zig_target,
        "KRAKEND_WHEEL_PLAT": str(plan.wheel_plat),
        "KRAKEND_CROSS": "aarch64",
    }
    hooked = options.BuildOptions(tmp_path, [], command="make", before_build="apk add x", network="host")
    assert compiling.builder_command(hooked) == [
        "krakend-run",
        "sh",
        "-c",
        compiling.BEFORE_BUILD,
        "sh",
        "sh",
        "-c",
        "make",
    ]
    env = compiling.build_env(_plan("generic/amd64", cross=False), hooked)
    assert env["KRAKEND_NETWORK"] == "1" and env["KRAKEND_BEFORE_BUILD"] == "apk add x" and "KRAKEND_CROSS" not in env


# -- the verdict on a finished build ---------------------------------------------------------------------


def test_build_failure_verdicts(tmp_path: Path) -> None:
    opts = options.BuildOptions(tmp_path, [], timeout=90.5)
    plan = _plan()
    failure = target.build_failure
    assert failure(compiling.Compiled(None, ""), plan, opts) == "build timed out after 90.5s"
    missing = 'krakend-build-wheel: build requirements not in the builder: ["cmake", "ninja"]\n'
    assert failure(compiling.Compiled(compiling.REQUIRES_MISSING, missing), plan, opts) == (
        "build requirements still missing offline: cmake, ninja"
    )
    assert failure(compiling.Compiled(1, "ERROR: No matching distribution found for q\n"), plan, opts) == (
        "build failed (exit 1): ERROR: No matching distribution found for q"
    )
    assert failure(compiling.Compiled(0, "done\n"), plan, opts) == "the build command wrote nothing to /out"
    repair = "auditwheel cannot repair pkg.whl to manylinux_2_28_aarch64: too-new symbols\n"
    assert failure(compiling.Compiled(compiling.REPAIR_FAILED, repair), plan, opts) == (
        f"the wheel cannot be tagged {plan.wheel_plat}: too-new symbols"
    )
    assert failure(compiling.Compiled(compiling.REPAIR_FAILED, "x\n"), plan, opts) == (
        f"the wheel cannot be tagged {plan.wheel_plat}: auditwheel failed"
    )
    assert failure(compiling.Compiled(compiling.REPAIR_FAILED, "a.c:1:1: error: e\n"), plan, opts) == (
        "the build went on after a compiler error: a.c:1:1: error: e"
    )
    wheel = _wheel(tmp_path, "pkg-1.0-py3-none-any.whl")
    assert failure(compiling.Compiled(0, "", [wheel]), plan, opts) is None


# -- scheduling and the wheel cache ------------------------------------------------------------------------


def test_work_in_parallel_keeps_the_order_of_the_items() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            seen.append(n)
        return n * 10

    assert job._in_parallel(work, [3, 1, 2], 3) == [30, 10, 20]
    assert job._in_parallel(work, [5], 4) == [50]
    assert job._in_parallel(work, [], 2) == []
    assert sorted(seen) == [1, 2, 3, 5]


def test_a_complete_cached_folder_is_not_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEND_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("KRAKEND_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "krakend-tools"
    dest = tmp_path / "wheels"
    dest.mkdir()
    (dest / cache.COMPLETE).write_text("")
    fetched: list[bool] = []
    assert cache.fetch_wheels(dest, ["nothing-here"], "3.11", ["any"], lambda: fetched.append(True)) == dest
    assert fetched == []


def test_pip_error_is_the_line_naming_the_requirement() -> None:
    stderr = (
        "ERROR: Ignored the following versions\n"
        "ERROR: Could not find a version that satisfies the requirement q\n"
        "ERROR: No matching distribution found for q\n"
        "note: closing\n"
    )
    assert cache.pip_error(stderr) == "ERROR: No matching distribution found for q"
    assert (
        cache.pip_error("ERROR: Could not find a version for q\nnote: x\n") == "ERROR: Could not find a version for q"
    )
    assert cache.pip_error("WARNING: w\nERROR: other\n") == "ERROR: other"
    assert cache.pip_error("  just a line \n") == "just a line"
    assert cache.pip_error("") == "pip failed"
