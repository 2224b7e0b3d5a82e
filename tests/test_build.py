"""krakend build: options, preflight and, with a real engine, every target end to end."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from krakend_tools.build import options, plans, source, verdicts
from krakend_tools.containers import bases
from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import Target
from tests.conftest import FIXTURES, run_krakend
from tests.dockerenv import our_containers

EXAMPLE = FIXTURES / "example-plugin"
BROKEN = FIXTURES / "broken-plugin"


# -- without an engine -----------------------------------------------------------------


def test_targets_all_and_lists() -> None:
    assert [str(t) for t in options.parse_targets(["all"])] == [
        "alpine/amd64",
        "alpine/arm64",
        "generic/amd64",
        "generic/arm64",
    ]
    assert [str(t) for t in options.parse_targets(["generic/x86_64,alpine/aarch64", "generic/amd64"])] == [
        "generic/amd64",
        "alpine/arm64",
    ]
    with pytest.raises(InputError):
        options.parse_targets([])
    with pytest.raises(InputError):
        options.parse_targets(["windows/amd64"])


def test_image_map_and_pyproject_table(tmp_path: Path) -> None:
    assert bases.parse_image_map(["alpine/arm64=x:1"], "--base-image") == {"alpine/arm64": "x:1"}
    with pytest.raises(InputError):
        bases.parse_image_map(["alpine/arm64"], "--base-image")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.krakend.build]\ncommand = "make"\ntypes = ["server"]\n'
        '[tool.krakend.build.base-images]\n"generic/amd64" = "mine:1"\n'
        '"alpine/amd64" = "theirs:1"\n'
    )
    opts = options.BuildOptions(tmp_path, [Target.parse("generic/amd64")], base_images={"alpine/amd64": "cli:1"})
    options.apply_config(opts, options.plugin_config(tmp_path))
    assert opts.command == "make" and opts.types == ["server"]
    assert opts.base_images == {"alpine/amd64": "cli:1", "generic/amd64": "mine:1"}


def test_error_line_is_the_compilers() -> None:
    log = (
        "running build_ext\nsrc/broken.c: In function 'broken':\n"
        "src/broken.c:4:12: error: 'undeclared_variable' undeclared (first use)\n"
        "error: command '/usr/bin/gcc' failed with exit code 1\n"
    )
    assert verdicts.error_line(log).startswith("src/broken.c:4:12: error:")


def test_source_tar_skips_outputs(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    for junk in ("dist", ".git", "build", "pkg.egg-info"):
        (tmp_path / junk).mkdir()
        (tmp_path / junk / "f").write_text("x")
    with tarfile.open(fileobj=io.BytesIO(source.source_tar(tmp_path, []))) as tar:
        names = tar.getnames()
    assert names == ["src/setup.py", "out"]


def test_unreachable_engine_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--manifest",
        "host",
        "--target",
        "generic/amd64",
        env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("krakend build: error: cannot reach the Docker engine at unix://")
    assert "DOCKER_HOST" in lines[-1] and "systemctl start docker" in lines[-1]
    assert "scripts/" not in proc.stderr  # not in the wheel: a message never points at this repository
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("folder", ["/", "empty"])
def test_a_folder_that_is_no_python_project_is_refused_before_any_engine(tmp_path: Path, folder: str) -> None:
    """No pyproject.toml or setup.py: pip could not build it, and ``/`` would be sent whole."""
    path = "/" if folder == "/" else str(tmp_path)
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}  # never reached
    proc = run_krakend("build", path, "--manifest", "host", "--target", "generic/amd64", env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("krakend build: error: ") and "not a Python project" in proc.stderr
    if folder == "empty":  # a build command of the user's own needs no Python project
        argv = ["build", path, "--command", "make", "--manifest", "host", "--target", "generic/amd64"]
        proc = run_krakend(*argv, env=env)
        assert "cannot reach the Docker engine" in proc.stderr, proc.stderr


def test_a_source_over_the_limit_is_refused_before_any_engine(tmp_path: Path) -> None:
    """A plugin folder holding more than the builder should be sent (here a sparse file): one
    line, before anything is read into memory; what EXCLUDE leaves out does not count."""
    (tmp_path / "setup.py").write_text("")
    (tmp_path / ".venv").mkdir()
    with open(tmp_path / ".venv" / "big.bin", "wb") as fh:
        fh.truncate(source.MAX_SOURCE_BYTES + 1)
    env = {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    argv = ["build", str(tmp_path), "--manifest", "host", "--target", "generic/amd64"]
    proc = run_krakend(*argv, env=env)
    assert "cannot reach the Docker engine" in proc.stderr, proc.stderr  # .venv is not sent
    (tmp_path / ".venv" / "big.bin").rename(tmp_path / "weights.bin")
    proc = run_krakend(*argv, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"is over {source.MAX_SOURCE_BYTES >> 20} MiB" in proc.stderr


def test_engine_map_pyproject_and_contexts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"arm").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "arm", "Endpoints": {"docker": {"Host": "ssh://builder@arm64-box"}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.krakend.build]\nregistry = "127.0.0.1:5000"\n'
        '[tool.krakend.build.engines]\n"alpine/arm64" = "arm"\n'
        '"generic/arm64" = "tcp://10.0.0.9:2375"\n'
    )
    opts = options.BuildOptions(
        tmp_path,
        options.parse_targets(["all"]),
        engines=bases.parse_image_map(["generic/arm64=unix:///run/arm.sock"], "--engine", "URL"),
    )
    options.apply_config(opts, options.plugin_config(tmp_path))
    assert opts.engines == {"generic/arm64": "unix:///run/arm.sock", "alpine/arm64": "ssh://builder@arm64-box"}
    assert opts.registry == "127.0.0.1:5000"
    with pytest.raises(InputError, match="expected TARGET=URL"):
        bases.parse_image_map(["generic/arm64"], "--engine", "URL")


def test_official_base_names_follow_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakend_tools.manifest.model import Manifest

    data = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    manifest = Manifest.from_dict(data)
    monkeypatch.delenv("KRAKEND_IMAGE_REGISTRY", raising=False)
    assert bases.official_bases(Target.parse("generic/arm64"), manifest) == ["python:3.11.7-slim-bookworm"]
    monkeypatch.setenv("KRAKEND_IMAGE_REGISTRY", "127.0.0.1:5055/")
    alpine = bases.official_bases(Target.parse("alpine/amd64"), manifest)
    assert alpine[0] == "127.0.0.1:5055/python:3.11.7-alpine3.22" and len(alpine) > 3
    data["platform"]["libc"] = {"family": "musl", "version": "1.2.4"}
    assert bases.official_bases(Target.parse("alpine/amd64"), Manifest.from_dict(data), "reg:1") == [
        "reg:1/python:3.11.7-alpine3.20",
        "reg:1/python:3.11.7-alpine3.19",
        "reg:1/python:3.11.7-alpine3.18",
    ]


def test_base_python_minor_refused_patch_warned() -> None:
    from krakend_tools.manifest.model import Manifest

    data = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    want = Manifest.from_dict(data)
    data["python"]["version"] = "3.11.2"
    warnings: list[str] = []
    bases.check_python(Manifest.from_dict(data), want, "python:x", warnings.append)
    assert warnings == [
        "warning: base image python:x has Python 3.11.2, the gateway runs "
        "3.11.7 (same minor: extensions load, but pin the exact base to test "
        "what ships)"
    ]
    data["python"]["version"] = "3.12.1"
    with pytest.raises(InputError, match="has Python 3.12.1, the gateway runs 3.11.7"):
        bases.check_python(Manifest.from_dict(data), want, "python:x", warnings.append)


def test_zig_target_and_wheel_policy_cap_at_the_gateway_libc() -> None:
    from krakend_tools.manifest.model import Manifest

    data = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    image_manifest = Manifest.from_dict(data)
    data["platform"]["libc"]["version"] = "2.28"
    capped = plans.target_manifest(image_manifest, Manifest.from_dict(data))
    plan = plans.Plan(
        Target.parse("generic/arm64"),
        None,  # type: ignore[arg-type]  # no engine: only the compiler target and wheel policy are read
        "b",
        "linux/amd64",
        True,
        None,
        Path("out"),
        capped,
    )
    assert plan.zig_target == "aarch64-linux-gnu.2.28"
    assert plan.wheel_plat == "manylinux_2_28_aarch64"
    data["platform"]["libc"] = {"family": "musl", "version": "1.2.3"}
    plan.target, plan.manifest = Target.parse("alpine/amd64"), Manifest.from_dict(data)
    assert (plan.zig_target, plan.wheel_plat) == ("x86_64-linux-musl", "musllinux_1_2_x86_64")


def test_docker_context_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from krakend_tools.containers import engine

    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"far").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "far", "Endpoints": {"docker": {"Host": f"unix://{tmp_path}/far.sock"}}})
    )
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "far"}))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert engine.docker_host() == (f"unix://{tmp_path}/far.sock", "docker context 'far'")
    with pytest.raises(InputError, match="docker context 'far'"):
        engine.connect()
    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    with pytest.raises(InputError, match="docker context 'missing' not found"):
        engine.docker_host()


def test_arm64_without_qemu_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakend_tools.containers import engine

    monkeypatch.setattr(engine, "qemu_arm64_ready", lambda: False)
    eng = engine.Engine(client=None, url="unix:///x", source="DOCKER_HOST", arch="amd64")
    eng.require_platform("amd64")
    with pytest.raises(InputError, match="update-binfmts --enable qemu-aarch64"):
        eng.require_platform("arm64")


def test_platform_mismatch_message() -> None:
    from krakend_tools.containers.engine import api_message

    err = Exception(
        "500 Server Error: pull access denied for local/x, repository does not exist or may require 'docker login'"
    )
    text = api_message(err, "linux/arm64", "local/x")
    assert "not available for linux/arm64" in text and "local/x" in text


def test_bad_target_is_usage_error() -> None:
    proc = run_krakend("build", str(EXAMPLE), "--manifest", "host", "--target", "alpine/riscv")
    assert proc.returncode == 2 and "invalid target" in proc.stderr


# -- with a real engine: the default path, official-shaped bases from the local registry -------


def _so_facts(wheel: Path, dest: Path) -> list[tuple[str, Any]]:
    from krakend_tools.elf import read_elf

    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return [(p.name, read_elf(p)) for p in sorted(dest.rglob("*.so"))]


@pytest.fixture(scope="module")
def built_all(docker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("dist")
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "all",
        "-j",
        "2",
        "--out",
        str(out),
        "-o",
        "json",
        env=docker_env,
        timeout=2400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout), out


@pytest.mark.docker
def test_cli_under_test_is_the_installed_wheel() -> None:
    """CI runs the Docker tests against a plain (non-editable) install of the wheel."""
    import subprocess

    from tests.conftest import INSTALLED

    if not INSTALLED:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must set KRAKEND_TEST_PYTHON (scripts/test.sh)", pytrace=False)
        pytest.skip("KRAKEND_TEST_PYTHON not set: the CLI runs from this checkout")
    where = subprocess.run(
        [
            INSTALLED,
            "-P",
            "-c",
            "import krakend_tools.containers.images as i; print(i.__file__); print(i.BUILDERS_DIR)",
        ],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    ).stdout.split()
    module, builders = Path(where[0]), Path(where[1])
    checkout = FIXTURES.parent
    assert "site-packages" in module.parts and not module.is_relative_to(checkout / "krakend_tools"), module
    # the project's top-level builders/ is inside the installed package, not read from the checkout
    assert builders == module.parent.parent / "builders" and not builders.is_relative_to(checkout / "builders")
    assert (builders / "Dockerfile").is_file()
    assert (builders / "common" / "krakend-run").is_file()


@pytest.mark.docker
@pytest.mark.slow
def test_build_all_targets_ok(built_all: tuple[Any, Path]) -> None:
    report, out = built_all
    findings = {f["name"]: f for f in report["findings"]}
    assert sorted(findings) == ["alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64"]
    for name, f in findings.items():
        assert f["ok"], f
        target = Target.parse(name)
        folder = out / f"{target.flavour}-{target.arch}"
        assert (folder / "build.log").is_file()
        assert f["details"]["test"] == "OK"
        assert f["details"]["test_details"]["registered"] == ["example-client", "example-handler", "example-modifier"]
        wheels = list(folder.glob("*.whl"))
        assert len(wheels) == 1 and wheels[0].stat().st_uid == os.getuid()
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left
        if target.arch == "arm64":  # default --arm64 cross: zig in the amd64 builder
            assert f["details"]["arm64"] == "cross"
            log = (folder / "build.log").read_text()
            assert "cross to aarch64" in log and "linux/amd64" in log.splitlines()[0]
        libc = "gnu.2.36" if target.flavour == "generic" else "musl"
        assert f["details"]["zig_target"] == f"{target.machine}-linux-{libc}"


@pytest.mark.docker
@pytest.mark.slow
def test_artifacts_repaired_for_the_gateway(built_all: tuple[Any, Path], tmp_path: Path) -> None:
    """ELF facts match each target; wheels carry manylinux/musllinux tags no newer than the
    gateway's libc (auditwheel show agrees), and readelf finds no newer glibc need."""
    import re
    import subprocess
    import sys

    _, out = built_all
    for name in ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64"):
        target = Target.parse(name)
        wheel = next((out / f"{target.flavour}-{target.arch}").glob("*.whl"))
        facts = _so_facts(wheel, tmp_path / f"{target.flavour}-{target.arch}")
        assert len(facts) == 1, facts
        filename, elf = facts[0]
        libc_tag = "gnu" if target.libc_family == "glibc" else "musl"
        assert filename == f"_ext.cpython-311-{target.machine}-linux-{libc_tag}.so"
        assert elf.machine == target.machine, (name, elf.machine)
        # zig links libc only when it is used: the example calls the Python API alone
        assert elf.libc in (target.libc_family, None), (name, elf.libc, elf.needed)
        plat = wheel.name.rsplit("-", 1)[1].removesuffix(".whl")
        kind = "manylinux" if target.libc_family == "glibc" else "musllinux"
        tags = re.findall(rf"{kind}_(\d+)_(\d+)_{target.machine}", plat)
        assert tags and "linux_" + target.machine != plat, wheel.name
        ceiling = (2, 36) if kind == "manylinux" else (1, 2)
        assert all((int(a), int(b)) <= ceiling for a, b in tags), wheel.name
        show = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True)
        assert show.returncode == 0, show.stderr
        best = min((int(a), int(b)) for a, b in tags)  # auditwheel's most compatible tag
        assert f'"{kind}_{best[0]}_{best[1]}_{target.machine}"' in show.stdout, show.stdout
        so = next((tmp_path / f"{target.flavour}-{target.arch}").rglob("*.so"))
        needs = subprocess.run(["readelf", "-V", "-W", str(so)], capture_output=True, text=True, check=True).stdout
        versions = [tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([\d.]+)", needs)]
        assert all(v <= (2, 36) for v in versions), versions
        assert not versions or target.libc_family == "glibc", needs


@pytest.mark.docker
@pytest.mark.slow
def test_broken_plugin_ko_with_compiler_error_and_no_leftovers(
    docker_env: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    before = our_containers(docker_client)
    proc = run_krakend(
        "build",
        str(BROKEN),
        "--target",
        "generic/amd64",
        "--out",
        str(tmp_path),
        "-o",
        "json",
        env=docker_env,
        timeout=900,
    )
    assert proc.returncode == 1, proc.stderr
    finding = json.loads(proc.stdout)["findings"][0]
    assert not finding["ok"]
    assert "src/broken.c:4" in finding["message"] and "error:" in finding["message"]
    assert "undeclared_variable" in finding["message"]
    assert our_containers(docker_client) == before
    assert [p.name for p in (tmp_path / "generic-amd64").iterdir()] == ["build.log"]
    assert "undeclared_variable" in (tmp_path / "generic-amd64" / "build.log").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


NEWGLIBC_SETUP = """from setuptools import Extension, setup
setup(name="newglibc-plugin", version="1.0", packages=["newglibc_plugin"],
      ext_modules=[Extension("newglibc_plugin._mem", sources=["mem.c"])])
"""
NEWGLIBC_C = """#define _GNU_SOURCE
#include <Python.h>
#include <sys/mman.h>
static PyObject *make(PyObject *s, PyObject *a) { return PyLong_FromLong(memfd_create("k", 0)); }
static PyMethodDef m[] = {{"make", make, METH_NOARGS, ""}, {0}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "_mem", 0, -1, m};
PyMODINIT_FUNC PyInit__mem(void) { return PyModule_Create(&d); }
"""


@pytest.mark.docker
@pytest.mark.slow
def test_wheel_needing_newer_glibc_is_ko_naming_the_symbol(
    served: Any, docker_env: dict[str, str], tmp_path: Path
) -> None:
    """Gateway on glibc 2.26; the command forces a 2.36 compile: memfd_create@GLIBC_2.27."""
    from tests.conftest import gateway_manifest

    plugin = tmp_path / "plugin"
    (plugin / "newglibc_plugin").mkdir(parents=True)
    (plugin / "newglibc_plugin" / "__init__.py").write_text("")
    (plugin / "setup.py").write_text(NEWGLIBC_SETUP)
    (plugin / "mem.c").write_text(NEWGLIBC_C)
    old = gateway_manifest(tmp_path, python=served.python, libc="GLIBC-2.26")
    proc = run_krakend(
        "build",
        str(plugin),
        "--target",
        "generic/amd64",
        "--out",
        str(tmp_path / "out"),
        "--command",
        "KRAKEND_ZIG_TARGET=x86_64-linux-gnu.2.36 krakend-build-wheel /src /out",
        "-o",
        "json",
        env={**docker_env, "KRAKEND_MANIFEST": str(old)},
        timeout=900,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    finding = json.loads(proc.stdout)["findings"][0]
    assert finding["details"]["wheel_plat"] == "manylinux_2_26_x86_64"
    assert finding["message"] == (
        "the wheel cannot be tagged manylinux_2_26_x86_64: needs memfd_create@GLIBC_2.27 in "
        "newglibc_plugin/_mem.cpython-311-x86_64-linux-gnu.so, newer than the gateway's "
        "GLIBC-2.26"
    ), finding["message"]
    assert not list((tmp_path / "out").rglob("*.whl"))


@pytest.mark.docker
@pytest.mark.slow
def test_base_python_patch_warns_minor_refuses(served: Any, docker_env: dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import gateway_manifest

    major, minor, patch = served.python.split(".")
    other_patch = gateway_manifest(tmp_path, python=f"{major}.{minor}.{int(patch) + 5}", libc="GLIBC-2.36")
    common = [
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--out",
        str(tmp_path / "o"),
        "--base-image",
        f"generic/amd64={served.slim}",
        "--runtime-base-image",
        f"generic/amd64={served.slim}",
        "-o",
        "json",
    ]
    proc = run_krakend(*common, env={**docker_env, "KRAKEND_MANIFEST": str(other_patch)}, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warning = (
        f"warning: base image {served.slim} has Python {served.python}, the gateway "
        f"runs {major}.{minor}.{int(patch) + 5}"
    )
    assert warning in proc.stderr
    assert json.loads(proc.stdout)["findings"][0]["details"]["warnings"][0].startswith(warning)
    other_minor = gateway_manifest(tmp_path, python=f"{major}.{int(minor) + 1}.0", libc="GLIBC-2.36")
    proc = run_krakend(*common, env={**docker_env, "KRAKEND_MANIFEST": str(other_minor)}, timeout=600)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"krakend build: error: base image {served.slim} has Python {served.python}, the gateway "
        f"runs {major}.{int(minor) + 1}.0: a plugin built there would not load; use a base "
        f"with Python {major}.{int(minor) + 1}"
    )


@pytest.mark.docker
@pytest.mark.slow
def test_timeout_removes_container(docker_env: dict[str, str], docker_client: Any, tmp_path: Path) -> None:
    before = our_containers(docker_client)
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--no-test",
        "--command",
        "echo started; sleep 60",
        "--timeout",
        "3",
        "--out",
        str(tmp_path),
        "-o",
        "json",
        env=docker_env,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    finding = json.loads(proc.stdout)["findings"][0]
    assert "timed out after 3s" in finding["message"]
    assert our_containers(docker_client) == before
    assert [p.name for p in (tmp_path / "generic-amd64").iterdir()] == ["build.log"]


@pytest.mark.docker
@pytest.mark.slow
def test_custom_command_text_table_and_verbose_log(docker_env: dict[str, str], tmp_path: Path) -> None:
    cmd = "echo building-now && krakend-cc -shared -fPIC -o /out/plain.so -x c /dev/null"
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--no-test",
        "-v",
        "--command",
        cmd,
        "--out",
        str(tmp_path),
        env=docker_env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "building-now" in proc.stderr  # -v streams the log
    assert "generic/amd64" in proc.stdout and "OK" in proc.stdout and "plain.so" in proc.stdout
    assert (tmp_path / "generic-amd64" / "plain.so").is_file()


@pytest.mark.docker
@pytest.mark.slow
def test_interrupt_removes_container_and_leaves_no_artifact(
    docker_env: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import time

    from tests.conftest import krakend_argv

    before = our_containers(docker_client)
    env = {**os.environ, "NO_COLOR": "1", **docker_env}
    proc = subprocess.Popen(
        [
            *krakend_argv(),
            "build",
            str(EXAMPLE),
            "--target",
            "generic/amd64",
            "--no-test",
            "--command",
            "touch /out/half.whl; sleep 120",
            "--out",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while len(our_containers(docker_client)) == len(before) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)  # what Ctrl-C does (SIGINT) takes the same path
    proc.wait(60)
    assert proc.returncode == 130
    assert our_containers(docker_client) == before
    assert not list(tmp_path.rglob("*.whl"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.docker
def test_missing_base_image_is_one_line_exit_2(docker_env: dict[str, str], tmp_path: Path) -> None:
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--base-image",
        "generic/amd64=krakend-tools/no-such-base:1",
        "--out",
        str(tmp_path),
        env=docker_env,
        timeout=300,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "krakend build: error: generic/amd64: base image krakend-tools/no-such-base:1 is not on this engine"
    )
    assert "--base-image generic/amd64=IMAGE" in last
    assert not (tmp_path / "generic-amd64").exists()


# -- a second engine -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_engine(docker_client: Any) -> Any:
    """A second private dockerd on its own socket, bridge and roots; stopped by its pid."""
    import subprocess

    from tests.dockerenv import ROOT

    if os.geteuid() != 0:
        pytest.skip("a second dockerd needs root")
    env = {
        **os.environ,
        "KRAKEND_DOCKER_ROOT": "/var/cache/krakend-tools/docker-second",
        "KRAKEND_DOCKER_BRIDGE": "kt-second",
        "KRAKEND_DOCKER_BRIDGE_CIDR": "10.214.0.1/24",
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "docker-env.sh"), "start"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip().rpartition("=")[2]
    import docker

    client = docker.DockerClient(base_url=url, timeout=600)
    try:
        yield url, client
    finally:
        client.close()
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "docker-env.sh"), "stop"], env=env, capture_output=True, timeout=300
        )


@pytest.mark.docker
@pytest.mark.slow
def test_arm64_target_builds_on_its_own_engine_in_parallel(
    second_engine: Any, docker_env: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    import time

    url, other = second_engine
    since = int(time.time()) - 1
    before = set(our_containers(other)) | set(our_containers(docker_client))  # another build's, on a shared engine
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "-t",
        "generic/amd64",
        "-t",
        "generic/arm64",
        "--engine",
        f"generic/arm64={url}",
        "--out",
        str(tmp_path),
        "-o",
        "json",
        env=docker_env,
        timeout=2400,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    until = int(time.time()) + 1
    report = json.loads(proc.stdout)
    engines = {f["name"]: f["details"]["engine"] for f in report["findings"]}
    assert engines["generic/arm64"] == url and engines["generic/amd64"] != url

    def created(client: Any) -> list[str]:
        """The images of the containers this engine created during the build (its log)."""
        events = client.events(
            since=since,
            until=until,
            decode=True,
            filters={"type": "container", "event": "create", "label": "io.krakend.run"},
        )
        return [e["Actor"]["Attributes"]["image"] for e in events]

    there, here = created(other), created(docker_client)
    # each import test runs in its target's gateway image (runtime + the gateway's packages), on its own engine
    assert any(i.startswith("krakend-tools/gateway:generic-arm64-") for i in there), there
    assert any(i.startswith("krakend-tools/gateway:generic-amd64-") for i in here), here
    assert not any("arm64" in i for i in here), here
    assert not any("gateway:generic-amd64" in i or ("amd64" in i and "runtime" in i) for i in there), there
    assert not (set(our_containers(other)) | set(our_containers(docker_client))) - before  # this build left none
    # parallel: each engine's work (images, build, test) overlaps the other's
    (a0, a1), (b0, b1) = (f["details"]["window"] for f in report["findings"])
    assert a0 < b1 and b0 < a1, report["findings"]
