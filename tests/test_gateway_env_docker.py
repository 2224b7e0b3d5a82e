"""The import test in a container sees the gateway's packages at their pins (a gateway image,
built once per manifest and reused) and the plugin's locked dependencies after them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gateway_manifest, run_krakend
from tests.dockerenv import Served, our_containers
from tests.test_gateway_env import lockfile, make_wheel

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PLUGIN = """
import plugdep
import requests

if requests.__version__ != "2.31.0":
    raise ImportError("acme needs the gateway's requests 2.31.0, sees " + requests.__version__)


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
    assert our_containers(docker_client) == []


def test_a_plugin_needing_another_version_of_a_shared_package_is_ko_showing_the_gateways(
    served: Served, docker_env: dict[str, str], pip_env: dict[str, str], tmp_path: Path
) -> None:
    code = PLUGIN.replace('"2.31.0"', '"2.32.0"')
    wheel = make_wheel(tmp_path, "acme", "0.2", {"acme/__init__.py": code}, ("plugdep",))
    lock = lockfile(tmp_path, "plugdep==1.0")
    manifest = _manifest(served, tmp_path, "generic/amd64")
    argv = ["test-plugin", "-s", str(wheel), "--target", "generic/amd64", "--manifest", str(manifest)]
    proc = run_krakend(*argv, "--lock", str(lock), env={**docker_env, **pip_env}, timeout=1200)
    assert proc.returncode == 1
    assert "acme needs the gateway's requests 2.32.0, sees 2.31.0" in proc.stdout


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
    assert "needs requests (Requires-Dist), which the gateway does not have" in result["findings"][0]["message"]
