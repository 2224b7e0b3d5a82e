"""krakend build on real C code and real sdists, with a real engine: musl extensions that call
libc for every target, build requirements fetched on the host (Cython, setuptools-scm) and
installed offline, lost extensions, the before-build hook. Each wheel is checked with
``auditwheel show`` and readelf facts, and imported with a smoke call in its runtime image."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from krakend_tools.manifest.platforms import Target
from tests.conftest import FIXTURES, run_krakend
from tests.dockerenv import Served

SDISTS = FIXTURES.parent / ".cache" / "sdists"  # fetched once with pip, pinned by sha256, not committed
PINNED = {
    "markupsafe": ("3.0.2", "ee55d3edf80167e48ea11a923c7386f4669df67d7994554387f84e7d8b0a2bf0"),
    "pluggy": ("1.5.0", "2cffa88e94fdc978c4c574f15f9e59b7f4201d439195c3715ca9e2486f1d0cf1"),
    "cytoolz": ("1.2.0", "fdd8ded8a93e1be009577fccddaacf78aa21cbe7dc6ec53c229def0198a1ffa5"),
}

STAMP_C = r"""#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static PyObject *stamp(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL) return NULL;
    size_t size = strlen(name) + 64;
    char *buf = malloc(size);
    if (buf == NULL) return PyErr_NoMemory();
    snprintf(buf, size, "%s; stamped=%d", name, time(NULL) > 0);
    PyObject *result = PyUnicode_FromString(buf);
    free(buf);
    return result;
}
static PyMethodDef methods[] = {{"stamp", stamp, METH_O, "stamp a header value"}, {NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_stamp", NULL, -1, methods};
PyMODINIT_FUNC PyInit__stamp(void) { return PyModule_Create(&module); }
"""
STAMP_INIT = '''"""A server plugin whose handler stamps a response header with C code calling libc."""
from libc_stamp._stamp import stamp

assert stamp("krakend") == "krakend; stamped=1"


class HandlerRegisterer:
    def register_handlers(self, register):
        register("libc-stamp", lambda extra_config, next_handler: next_handler)
'''
STAMP_PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "libc-stamp"
version = "1.2.0"

[tool.setuptools]
packages = ["libc_stamp"]
ext-modules = [{name = "libc_stamp._stamp", sources = ["src/stamp.c"]}]
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _build(plugin: Path, out: Path, env: dict[str, str], *args: str, timeout: float = 1800) -> dict[str, Any]:
    proc = run_krakend("build", str(plugin), "--out", str(out), "-o", "json", *args, env=env, timeout=timeout)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout)
    report["exit"] = proc.returncode
    return report


def _findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in report["findings"]}


def sdist(name: str, dest: Path) -> Path:
    """The pinned sdist, fetched with this host's pip once (cached, checked by sha256), unpacked."""
    version, sha256 = PINNED[name]
    archive = SDISTS / f"{name}-{version}.tar.gz"
    if not archive.is_file():
        SDISTS.mkdir(parents=True, exist_ok=True)
        # only the project from source: its build requirements come as wheels
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", name, "--no-deps"]
        subprocess.run([*cmd, "-d", str(SDISTS), f"{name}=={version}"], check=True, capture_output=True)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == sha256, archive
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / f"{name}-{version}"


def _elf_of_wheel(wheel: Path, dest: Path) -> list[tuple[str, str, list[str]]]:
    """(member, machine, NEEDED) of each shared object in ``wheel``, read by readelf."""
    found = []
    with zipfile.ZipFile(wheel) as zf:
        for member in (n for n in zf.namelist() if n.endswith(".so")):
            path = dest / Path(member).name
            path.write_bytes(zf.read(member))
            header = subprocess.run(["readelf", "-h", "-d", str(path)], capture_output=True, text=True, check=True)
            machine = re.search(r"Machine:\s+(.*)", header.stdout)
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", header.stdout)
            found.append((member, machine.group(1).strip() if machine else "?", needed))
    return found


def _check_wheel(wheel: Path, target: Target, tmp: Path) -> None:
    """Tag, auditwheel show, readelf machine and NEEDED agree with ``target``."""
    kind = "musllinux" if target.libc_family == "musl" else "manylinux"
    tags = re.findall(rf"{kind}_(\d+)_(\d+)_{target.machine}", wheel.name)
    assert tags, wheel.name
    best = min((int(a), int(b)) for a, b in tags)
    show = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True)
    assert show.returncode == 0, show.stderr
    assert f'"{kind}_{best[0]}_{best[1]}_{target.machine}"' in " ".join(show.stdout.split()), show.stdout
    sos = _elf_of_wheel(wheel, tmp)
    assert sos, wheel.name
    machine = "X86-64" if target.arch == "amd64" else "AArch64"
    for member, found, needed in sos:
        assert machine in found, (member, found)
        if target.libc_family == "musl":
            assert "libc.so" not in needed and "libc.so.6" not in needed, (member, needed)
            assert set(needed) <= {f"libc.musl-{target.machine}.so.1"}, (member, needed)
        else:
            assert not [n for n in needed if "musl" in n or n == "libc.so"], (member, needed)


def _qemu_arm64() -> bool:
    return Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists()


def run_in_runtime(client: Any, served: Served, target: Target, wheel: Path, code: str) -> str:
    """Install ``wheel`` (no index, no network) in the target's official-shaped base and run ``code``."""
    image = served.alpine if target.flavour == "alpine" else served.slim
    client.images.pull(image, platform=target.platform)  # one multi-arch name: the right variant first
    script = f"pip install -q --no-index --no-deps /w/{wheel.name} && python -c {json.dumps(code)}"
    box = client.containers.create(
        image, ["sh", "-c", script], platform=target.platform, network_mode="none", labels={"io.krakend.run": "test"}
    )
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(wheel, arcname=f"w/{wheel.name}")
        box.put_archive("/", buf.getvalue())
        box.start()
        status = box.wait(timeout=600)
        log = str(box.logs().decode(errors="replace"))
        assert status["StatusCode"] == 0, log
        return log
    finally:
        box.remove(force=True)


# -- a small C extension calling libc, every target, full pipeline (import test included) -----


@pytest.fixture(scope="module")
def libc_stamp(docker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("libc-stamp")
    plugin = _project(
        root / "plugin",
        {
            "pyproject.toml": STAMP_PYPROJECT,
            "src/stamp.c": STAMP_C,
            "libc_stamp/__init__.py": STAMP_INIT,
        },
    )
    return _build(plugin, root / "out", docker_env, "-t", "all", "-j", "2", timeout=2400), root


@pytest.mark.docker
@pytest.mark.slow
def test_libc_calling_extension_builds_repairs_and_imports_for_every_target(
    libc_stamp: tuple[dict[str, Any], Path],
) -> None:
    report, root = libc_stamp
    findings = _findings(report)
    assert report["exit"] == 0, report
    for name in ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64"):
        finding, target = findings[name], Target.parse(name)
        assert finding["ok"] and finding["details"]["test"] == "OK", finding
        assert finding["details"]["test_details"]["registered"] == ["libc-stamp"]
        wheel = next((root / "out" / f"{target.flavour}-{target.arch}").glob("*.whl"))
        assert wheel.name.startswith("libc_stamp-1.2.0-cp311-cp311-"), wheel.name
        (root / name.replace("/", "-")).mkdir()
        _check_wheel(wheel, target, root / name.replace("/", "-"))
        log = (root / "out" / f"{target.flavour}-{target.arch}" / "build.log").read_text()
        assert "build environment: setuptools>=64 (offline, isolated)" in log


# -- real sdists -------------------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.slow
def test_real_sdist_markupsafe_for_every_target(
    docker_env: dict[str, str], docker_client: Any, served: Served, tmp_path: Path
) -> None:
    """markupsafe's C speedups (memcpy, malloc through CPython): musllinux and manylinux, amd64
    and arm64 (cross), each imported with a smoke call in its runtime image."""
    project = sdist("markupsafe", tmp_path)
    report = _build(project, tmp_path / "out", docker_env, "-t", "all", "-j", "2", "--no-test")
    assert report["exit"] == 0, report
    for name in ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64"):
        target = Target.parse(name)
        wheel = next((tmp_path / "out" / f"{target.flavour}-{target.arch}").glob("*.whl"))
        policy = "musllinux_1_" if target.libc_family == "musl" else "manylinux_2_"
        assert wheel.name.startswith("markupsafe-3.0.2-cp311-cp311-") and policy in wheel.name, wheel.name
        (tmp_path / name.replace("/", "-")).mkdir()
        _check_wheel(wheel, target, tmp_path / name.replace("/", "-"))
        if target.arch == "arm64" and not _qemu_arm64():
            continue
        code = (
            "import markupsafe, markupsafe._speedups as s; "
            "assert markupsafe.escape('<a href=\"x\">') == '&lt;a href=&#34;x&#34;&gt;'; print('smoke', s.__file__)"
        )
        assert "smoke" in run_in_runtime(docker_client, served, target, wheel, code)


CYTHON_FILES = {
    "pyproject.toml": """[build-system]
requires = ["setuptools>=64", "Cython>=3"]
build-backend = "backend"
backend-path = ["_build"]

[project]
name = "cyplug"
version = "0.3.0"
""",
    "_build/backend.py": '''"""setuptools, and one more requirement from get_requires_for_build_wheel."""
from setuptools import build_meta as _base
from setuptools.build_meta import *  # noqa: F403


def get_requires_for_build_wheel(config_settings=None):
    return [*_base.get_requires_for_build_wheel(config_settings), "typing-extensions>=4"]


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import typing_extensions  # noqa: F401 - only get_requires_for_build_wheel asked for it

    return _base.build_wheel(wheel_directory, config_settings, metadata_directory)
''',
    "setup.py": """from Cython.Build import cythonize
from setuptools import setup

setup(packages=["cyplug"], ext_modules=cythonize(["cyplug/_fast.pyx"]))
""",
    "cyplug/__init__.py": "",
    "cyplug/_fast.pyx": (
        "def fib(int n):\n    cdef long a = 0, b = 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
    ),
}


@pytest.mark.docker
@pytest.mark.slow
def test_cython_in_requires_and_backend_requirements_offline(
    docker_env: dict[str, str], docker_client: Any, served: Served, tmp_path: Path
) -> None:
    project = _project(tmp_path / "cyplug", CYTHON_FILES)
    report = _build(project, tmp_path / "out", docker_env, "-t", "alpine/amd64", "--no-test")
    finding = _findings(report)["alpine/amd64"]
    assert report["exit"] == 0, finding
    assert report["meta"]["network"] == "none"
    log = (tmp_path / "out" / "alpine-amd64" / "build.log").read_text()
    assert "also needs: typing-extensions>=4" in log  # learned in the builder, fetched here, built again
    wheel = next((tmp_path / "out" / "alpine-amd64").glob("*.whl"))
    assert wheel.name.startswith("cyplug-0.3.0-cp311-cp311-musllinux_1_"), wheel.name
    _check_wheel(wheel, Target.parse("alpine/amd64"), tmp_path)
    code = "import cyplug._fast as f; assert f.fib(10) == 55; print('smoke', f.__file__)"
    assert "_fast.cpython-311-x86_64-linux-musl.so" in run_in_runtime(
        docker_client, served, Target.parse("alpine/amd64"), wheel, code
    )


@pytest.mark.docker
@pytest.mark.slow
def test_setuptools_scm_sdist_gets_its_real_version(docker_env: dict[str, str], tmp_path: Path) -> None:
    project = sdist("pluggy", tmp_path)
    report = _build(project, tmp_path / "out", docker_env, "-t", "generic/amd64", "--no-test")
    assert report["exit"] == 0, report
    assert [p.name for p in (tmp_path / "out" / "generic-amd64").glob("*.whl")] == ["pluggy-1.5.0-py3-none-any.whl"]


@pytest.mark.docker
@pytest.mark.slow
def test_a_build_requirement_that_cannot_be_found_is_a_ko_naming_it(docker_env: dict[str, str], tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p",
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools==0.0.0.1"]\n'
            'build-backend = "setuptools.build_meta"\n[project]\nname = "p"\nversion = "1"\n'
        },
    )
    report = _build(project, tmp_path / "out", docker_env, "-t", "generic/amd64", "--no-test")
    finding = _findings(report)["generic/amd64"]
    assert report["exit"] == 1 and not finding["ok"]
    assert finding["message"].startswith("a build requirement cannot be fetched for the builder (manylinux_2_36_x86_64")
    assert finding["message"].endswith("ERROR: No matching distribution found for setuptools==0.0.0.1")


OPTIONAL_FILES = {
    "setup.py": """from setuptools import Extension, setup
setup(name="optplug", version="1.0", packages=["optplug"],
      ext_modules=[Extension("optplug._speed", sources=["src/speed.c"], optional=True)])
""",
    "optplug/__init__.py": "",
    "src/speed.c": "#include <Python.h>\nint broken(void) { return undeclared_variable; }\n",
}


@pytest.mark.docker
@pytest.mark.slow
def test_optional_extension_that_fails_is_ko_with_the_compiler_line(docker_env: dict[str, str], tmp_path: Path) -> None:
    project = _project(tmp_path / "optplug", OPTIONAL_FILES)
    report = _build(project, tmp_path / "out", docker_env, "-t", "generic/amd64", "--no-test")
    finding = _findings(report)["generic/amd64"]
    assert report["exit"] == 1 and not finding["ok"], finding
    assert "src/speed.c:2:" in finding["message"] and "error:" in finding["message"], finding["message"]
    assert "undeclared_variable" in finding["message"] and "note:" not in finding["message"]
    assert not list((tmp_path / "out").rglob("*.whl"))
    report = _build(
        project, tmp_path / "out2", docker_env, "-t", "generic/amd64", "--no-test", "--allow-missing-extensions"
    )
    finding = _findings(report)["generic/amd64"]
    assert report["exit"] == 0 and finding["ok"], finding
    assert any("undeclared_variable" in w for w in finding["details"]["warnings"]), finding


SYSLIB_FILES = {
    "setup.py": """from setuptools import Extension, setup
setup(name="syslib", version="1.0", packages=["syslib"],
      ext_modules=[Extension("syslib._answer", sources=["src/answer.c"], libraries=["answer"])])
""",
    "syslib/__init__.py": "from syslib._answer import answer\n",
    "src/answer.c": """#include <Python.h>
#include <answer.h>
static PyObject *py_answer(PyObject *s, PyObject *a) { return PyLong_FromLong(answer()); }
static PyMethodDef m[] = {{"answer", py_answer, METH_NOARGS, ""}, {NULL}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "_answer", NULL, -1, m};
PyMODINIT_FUNC PyInit__answer(void) { return PyModule_Create(&d); }
""",
    "vendor/answer/answer.h": "int answer(void);\n",
    "vendor/answer/answer.c": '#include <stdlib.h>\nint answer(void) { return atoi("42"); }\n',
    "vendor/build.sh": """set -e
mkdir -p /opt/answer/include /opt/answer/lib
cp vendor/answer/answer.h /opt/answer/include/
$CC -fPIC -c vendor/answer/answer.c -o /tmp/answer.o
zig ar rcs /opt/answer/lib/libanswer.a /tmp/answer.o
""",
}
SYSLIB_HOOK = """
[tool.krakend.build]
before-build = "sh vendor/build.sh"
[tool.krakend.build.environment]
CFLAGS = "-I/opt/answer/include"
LDFLAGS = "-L/opt/answer/lib"
"""


@pytest.mark.docker
@pytest.mark.slow
def test_a_missing_system_library_says_which_and_before_build_provides_it(
    docker_env: dict[str, str], docker_client: Any, served: Served, tmp_path: Path
) -> None:
    project = _project(tmp_path / "syslib", SYSLIB_FILES)
    report = _build(project, tmp_path / "out", docker_env, "-t", "alpine/amd64", "--no-test")
    message = _findings(report)["alpine/amd64"]["message"]
    assert report["exit"] == 1, message
    assert "src/answer.c:2:10: fatal error: 'answer.h' file not found" in message, message
    assert "the builder has no answer.h" in message and "before-build" in message
    (project / "pyproject.toml").write_text(SYSLIB_HOOK)
    report = _build(project, tmp_path / "out", docker_env, "-t", "alpine/amd64", "--no-test")
    assert report["exit"] == 0, report
    wheel = next((tmp_path / "out" / "alpine-amd64").glob("*.whl"))
    target = Target.parse("alpine/amd64")
    _check_wheel(wheel, target, tmp_path)
    code = "import syslib; assert syslib.answer() == 42; print('smoke')"
    assert "smoke" in run_in_runtime(docker_client, served, target, wheel, code)


@pytest.mark.docker
@pytest.mark.slow
def test_real_sdist_whose_import_needs_a_runtime_dependency_imports_with_its_lockfile(
    docker_env: dict[str, str], tmp_path: Path
) -> None:
    """cytoolz (Cython) imports toolz at import time, which the gateway does not have: built from
    its sdist with a lockfile beside it, build's import test gets past the import (to the plugin
    contract, which a library does not meet); without the lockfile the same wheel is KO naming toolz."""
    project = sdist("cytoolz", tmp_path)
    (project / "requirements.txt").write_text("toolz==1.1.0\n")
    report = _build(project, tmp_path / "out", docker_env, "-t", "generic/amd64", "--type", "server")
    test = _findings(report)["generic/amd64"]["details"]["test_details"]
    messages = [f["message"] for f in test["findings"]]
    assert messages and all("does not contain a HandlerRegisterer" in m for m in messages), messages
    assert "toolz" in str(test["gateway_environment"]), test["gateway_environment"]
    wheel = next((tmp_path / "out" / "generic-amd64").glob("cytoolz-1.2.0-*.whl"))
    bare = run_krakend("test-plugin", "-s", "--target", "generic/amd64", str(wheel), env=docker_env, timeout=600)
    assert bare.returncode == 1, bare.stderr
    assert "needs toolz (Requires-Dist), which the gateway does not have" in bare.stdout, bare.stdout
