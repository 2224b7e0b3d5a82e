"""The import test in a container sees the gateway's packages at their pins (a gateway image,
built once per manifest and reused) and the plugin's locked dependencies after them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gateway_manifest, run_krakend
from tests.dockerenv import Served
from tests.test_gateway_env import lockfile, make_wheel

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PLUGIN = """
import plugdep
import requests

WANT = "2.31.0"
if requests.__version__ != WANT:
    raise ImportError("acme was written for requests " + WANT + ", the gateway has " + requests.__version__)


class HandlerRegisterer:
    def register_handlers(self, register):
        register("acme-" + plugdep.NAME, lambda extra_config, next_handler: next_handler)
"""


@pytest.fixture(scope="module")
def pip_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip finds plugdep (only the plugin brings it) in a local folder, the rest as configured;
    one wheel cache for the module, so a second run can reuse it."""
    links = tmp_path_factory.mktemp("links")
    make_wheel(links, "plugdep", "1.0", {"plugdep/__init__.py": "NAME = 'dep'\n"})
    return {"PIP_FIND_LINKS": str(links), "KRAKEND_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    return make_wheel(dist, "acme", "0.1", {"acme/__init__.py": PLUGIN}, ("plugdep", "requests"))


def _manifest(served: Served, where: Path, target: str) -> Path:
    libc = "GLIBC-2.36" if target.startswith("generic") else None
    return gateway_manifest(where, target=target, python=served.python, libc=libc)


@pytest.mark.parametrize("target", ["generic/amd64", "generic/arm64"])
def test_plugin_imports_in_the_gateway_image_with_its_lock(
    target: str,
    served: Served,
    docker_env: dict[str, str],
    pip_env: dict[str, str],
    acme: Path,
    tmp_path: Path,
    docker_client: Any,
) -> None:
    manifest = _manifest(served, tmp_path, target)
    lock = lockfile(tmp_path, "plugdep==1.0", "requests==2.32.0")  # the gateway's requests wins
    env = {**docker_env, **pip_env}
    argv = ["test-plugin", "-s", str(acme), "--target", target, "--manifest", str(manifest), "--lock", str(lock)]
    argv += ["--timeout", "300"]  # arm64 runs under QEMU: importing requests there takes ~20 s
    proc = run_krakend(*argv, "-o", "json", env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["findings"][0]["message"] == "registered: acme-dep"
    gateway = result["meta"]["gateway_environment"]
    assert gateway["image"].startswith("krakend-tools/gateway:")
    assert {"name": "requests", "version": "2.31.0"} in gateway["installed"]
    assert gateway["overlay"]["packages"] == [{"name": "plugdep", "version": "1.0"}]
    assert gateway["overlay"]["from_gateway"] == [{"name": "requests", "locked": "2.32.0"}]
    image_id = docker_client.images.get(gateway["image"]).id

    again = run_krakend(*argv, "-o", "json", env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "fetching" not in again.stderr and "building gateway image" not in again.stderr
    assert docker_client.images.get(json.loads(again.stdout)["meta"]["gateway_environment"]["image"]).id == image_id

    bare = run_krakend("test-plugin", "-s", str(acme), "--target", target, "--manifest", str(manifest), env=env)
    assert bare.returncode == 1
    assert "needs plugdep (Requires-Dist), which the gateway does not have: pass the plugin's lockfile" in bare.stdout
    assert docker_client.containers.list(all=True, filters={"ancestor": gateway["image"]}) == []


def test_a_plugin_needing_another_version_of_a_shared_package_is_ko_showing_the_gateways(
    served: Served, docker_env: dict[str, str], pip_env: dict[str, str], tmp_path: Path
) -> None:
    code = PLUGIN.replace('WANT = "2.31.0"', 'WANT = "2.32.0"')
    wheel = make_wheel(tmp_path, "acme", "0.2", {"acme/__init__.py": code}, ("plugdep",))
    lock = lockfile(tmp_path, "plugdep==1.0")
    manifest = _manifest(served, tmp_path, "generic/amd64")
    argv = ["test-plugin", "-s", str(wheel), "--target", "generic/amd64", "--manifest", str(manifest)]
    proc = run_krakend(*argv, "--lock", str(lock), env={**docker_env, **pip_env}, timeout=1200)
    assert proc.returncode == 1
    assert "acme was written for requests 2.32.0, the gateway has 2.31.0" in proc.stdout


def test_target_without_manifest_uses_the_runtime_images(
    docker_env: dict[str, str], pip_env: dict[str, str], acme: Path, tmp_path: Path
) -> None:
    """The runtime image's manifest (no requests): the plugin's needs are named, not guessed."""
    env = {k: v for k, v in {**docker_env, **pip_env}.items() if k != "KRAKEND_MANIFEST"}
    run_krakend("test-plugin", "-s", str(acme), "--target", "generic/amd64", env=docker_env, timeout=1200)
    proc = run_krakend("test-plugin", "-s", str(acme), "--target", "generic/amd64", "-o", "json", env=env, timeout=1200)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["meta"]["manifest"]["source"].startswith("image krakend-tools/runtime:")
    problems = result["findings"][0]["problems"]
    assert (
        "needs requests (Requires-Dist), which the gateway does not have: pass the plugin's lockfile with --lock"
        in (problems)
    )


NATIVE = r"""
#include <Python.h>
#include <string.h>

static struct PyModuleDef native = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *requests = PyImport_ImportModule("requests");
    if (requests == NULL) return NULL;
    PyObject *version = PyObject_GetAttrString(requests, "__version__");
    Py_DECREF(requests);
    if (version == NULL) return NULL;
    const char *have = PyUnicode_AsUTF8(version);
    if (have == NULL || strcmp(have, WANT) != 0) {
        if (have != NULL)
            PyErr_Format(PyExc_ImportError, "acme_native was built for requests %s, the gateway has %s", WANT, have);
        Py_DECREF(version);
        return NULL;
    }
    Py_DECREF(version);
    PyObject *dep = PyImport_ImportModule("plugdep");
    if (dep == NULL) return NULL;
    Py_DECREF(dep);
    return PyModule_Create(&native);
}
"""


def native_plugin(folder: Path, want: str, lock: bool = True) -> Path:
    """A compiled plugin that imports requests (the gateway's) and plugdep (its own) and
    refuses to load unless requests is ``want``."""
    (folder / "acme_native").mkdir(parents=True)
    (folder / "src").mkdir()
    (folder / "src" / "native.c").write_text(f'#define WANT "{want}"\n' + NATIVE)
    (folder / "acme_native" / "__init__.py").write_text(
        "from acme_native import _native  # noqa: F401\nimport plugdep\n\n\n"
        "class HandlerRegisterer:\n"
        "    def register_handlers(self, register):\n"
        "        register('native-' + plugdep.NAME, lambda extra_config, next_handler: next_handler)\n"
    )
    (folder / "setup.py").write_text(
        "from setuptools import Extension, setup\n"
        'setup(ext_modules=[Extension("acme_native._native", ["src/native.c"])])\n'
    )
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61", "wheel"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "acme-native"\nversion = "0.1"\ndependencies = ["requests", "plugdep"]\n\n'
        '[tool.setuptools]\npackages = ["acme_native"]\n'
    )
    if lock:
        lockfile(folder, "plugdep==1.0", "requests==2.31.0")
    return folder


def _build(folder: Path, out: Path, env: dict[str, str], *targets: str) -> dict[str, Any]:
    argv = ["build", str(folder), "--out", str(out), "--type", "server", "-o", "json"]
    for target in targets:
        argv += ["--target", target]
    proc = run_krakend(*argv, env=env, timeout=2400)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_build_tests_a_compiled_plugin_in_the_gateway_environment_with_its_lock(
    docker_env: dict[str, str], pip_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**docker_env, "PIP_FIND_LINKS": pip_env["PIP_FIND_LINKS"]}
    result = _build(native_plugin(tmp_path / "ok", "2.31.0"), tmp_path / "out", env, "generic/amd64", "generic/arm64")
    assert len(result["findings"]) == 2
    for finding in result["findings"]:
        assert finding["ok"], finding["message"]
        assert "registered native-dep in gateway image krakend-tools/gateway:" in finding["message"]
        assert "+ requirements.txt (1 package(s))" in finding["message"]
        gateway = finding["details"]["test_details"]["gateway_environment"]
        assert {"name": "requests", "version": "2.31.0"} in gateway["installed"]
        assert gateway["overlay"]["packages"] == [{"name": "plugdep", "version": "1.0"}]


def test_build_of_a_plugin_built_for_another_shared_version_is_ko_showing_the_gateways(
    docker_env: dict[str, str], pip_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**docker_env, "PIP_FIND_LINKS": pip_env["PIP_FIND_LINKS"]}
    result = _build(native_plugin(tmp_path / "other", "2.32.0"), tmp_path / "out", env, "generic/amd64")
    finding = result["findings"][0]
    assert not finding["ok"]
    assert "acme_native was built for requests 2.32.0, the gateway has 2.31.0" in finding["message"]


def test_build_without_a_lockfile_names_the_plugin_only_package(
    docker_env: dict[str, str], pip_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**docker_env, "PIP_FIND_LINKS": pip_env["PIP_FIND_LINKS"]}
    result = _build(native_plugin(tmp_path / "nolock", "2.31.0", lock=False), tmp_path / "out", env, "generic/amd64")
    finding = result["findings"][0]
    assert not finding["ok"]
    assert (
        "needs plugdep (Requires-Dist), which the gateway does not have: pass the plugin's lockfile"
        in (finding["message"])
    )
