"""The import test's environment: the gateway's packages at their pins, the plugin's locked
dependencies in an overlay after them (``test-plugin --lock``), locally (bubblewrap runner).

Wheels are real, built here; pip fetches them from a local folder (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``: the user's index settings) into a private ``$KRAKEND_CACHE_DIR``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_krakend

PLUGIN = """
import packaging
import plugdep

if packaging.__version__ != {shared!r}:
    raise ImportError("acme needs packaging {shared}, sees " + packaging.__version__)


class HandlerRegisterer:
    def register_handlers(self, register):
        register("acme-" + plugdep.NAME, lambda extra_config, next_handler: next_handler)
"""


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> Path:
    """A pure wheel, as a build backend writes it (METADATA, WHEEL, RECORD)."""
    info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    members = dict(files)
    members[f"{info}/METADATA"] = meta
    members[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, text in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    members[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in members.items():
            zf.writestr(path, text)
    return wheel


def shared_version(manifest: Path) -> str:
    return str(json.loads(manifest.read_text())["distributions"]["packaging"])


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """What pip may fetch: plugdep 1.0 (only the plugin uses it)."""
    found = tmp_path / "index"
    found.mkdir()
    make_wheel(found, "plugdep", "1.0", {"plugdep/__init__.py": "NAME = 'dep'\n"})
    return found


@pytest.fixture
def env(tmp_path: Path, index: Path) -> dict[str, str]:
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index), "KRAKEND_CACHE_DIR": str(tmp_path / "cache")}


def plugin(folder: Path, shared: str, requires: tuple[str, ...] = ("plugdep", "packaging")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return make_wheel(folder, "acme", "0.1", {"acme/__init__.py": PLUGIN.format(shared=shared)}, requires)


def lockfile(folder: Path, *pins: str) -> Path:
    path = folder / "requirements.txt"
    path.write_text("".join(f"{p}\n" for p in pins))
    return path


def test_plugin_only_dependency_without_lock_is_ko_naming_it(
    tmp_path: Path, host_manifest: Path, env: dict[str, str]
) -> None:
    wheel = plugin(tmp_path / "dist", shared_version(host_manifest))
    proc = run_krakend("test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), env=env)
    assert proc.returncode == 1, proc.stderr
    assert (
        "needs plugdep (Requires-Dist), which the gateway does not have: pass the plugin's lockfile with --lock"
        in proc.stdout
    )
    assert "ModuleNotFoundError" not in proc.stdout


def test_lock_overlay_imports_after_the_gateways_packages(
    tmp_path: Path, host_manifest: Path, env: dict[str, str]
) -> None:
    shared = shared_version(host_manifest)
    wheel = plugin(tmp_path / "dist", shared)
    lock = lockfile(tmp_path, "plugdep==1.0", "packaging==21.0")  # the gateway's packaging wins
    argv = ["test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock", str(lock), "-o", "json"]
    proc = run_krakend(*argv, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["findings"][0]["message"] == "registered: acme-dep"
    overlay = result["meta"]["gateway_environment"]["overlay"]
    assert overlay["lockfile"] == str(lock)
    assert overlay["packages"] == [{"name": "plugdep", "version": "1.0"}]
    assert overlay["from_gateway"] == [{"name": "packaging", "locked": "21.0"}]
    assert "fetching 1 wheel(s) with pip" in proc.stderr
    again = run_krakend(*argv, env=env)
    assert again.returncode == 0, again.stderr
    assert "fetching" not in again.stderr  # the cached wheel and overlay are reused


def test_a_plugin_needing_another_version_of_a_shared_package_shows_the_gateways(
    tmp_path: Path, host_manifest: Path, env: dict[str, str]
) -> None:
    shared = shared_version(host_manifest)
    wheel = plugin(tmp_path / "dist", "0.1", ("plugdep", "packaging<1"))
    lock = lockfile(tmp_path, "plugdep==1.0")
    proc = run_krakend("test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock", str(lock), env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"needs packaging<1 (Requires-Dist), the gateway has packaging {shared}" in proc.stdout


def test_import_sees_the_gateways_version_of_a_shared_package(
    tmp_path: Path, host_manifest: Path, env: dict[str, str]
) -> None:
    """A plugin that refuses any packaging but 0.1 fails at import, naming what it saw."""
    shared = shared_version(host_manifest)
    wheel = plugin(tmp_path / "dist", "0.1", ("plugdep",))
    lock = lockfile(tmp_path, "plugdep==1.0")
    proc = run_krakend("test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock", str(lock), env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"ImportError: acme needs packaging 0.1, sees {shared}" in proc.stdout


def test_a_locked_package_without_a_wheel_for_the_target_is_ko_naming_it(
    tmp_path: Path, host_manifest: Path, env: dict[str, str]
) -> None:
    wheel = plugin(tmp_path / "dist", shared_version(host_manifest))
    lock = lockfile(tmp_path, "plugdep==1.0", "nowheel==2.0")
    proc = run_krakend("test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock", str(lock), env=env)
    assert proc.returncode == 1, proc.stderr
    assert "no wheel of nowheel 2.0" in proc.stdout
    assert "the gateway could not install it either" in proc.stdout


def test_lock_key_in_the_plugins_pyproject(tmp_path: Path, host_manifest: Path, env: dict[str, str]) -> None:
    project = tmp_path / "project"
    wheel = plugin(project / "dist", shared_version(host_manifest))
    lockfile(project, "plugdep==1.0")
    (project / "pyproject.toml").write_text('[tool.krakend]\nlock = "requirements.txt"\n')
    proc = run_krakend("test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_missing_lockfile_is_one_line_and_exit_2(tmp_path: Path, host_manifest: Path) -> None:
    wheel = plugin(tmp_path / "dist", "1")
    proc = run_krakend(
        "test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock", str(tmp_path / "nope.lock")
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no such lockfile" in proc.stderr


def test_overlay_folder_is_read_only_for_the_plugin(tmp_path: Path, host_manifest: Path, env: dict[str, str]) -> None:
    """The overlay is mounted read-only: a plugin cannot change what later tests import."""
    dist = tmp_path / "dist"
    dist.mkdir()
    code = (
        "import plugdep, pathlib\n"
        "pathlib.Path(plugdep.__file__).write_text('NAME = \"tampered\"')\n"
        "class HandlerRegisterer:\n"
        "    def register_handlers(self, register):\n"
        "        register('x', lambda c, n: n)\n"
    )
    wheel = make_wheel(dist, "acme", "0.1", {"acme/__init__.py": code}, ("plugdep",))
    lock = lockfile(tmp_path, "plugdep==1.0")
    proc = run_krakend("test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock", str(lock), env=env)
    sandboxed = subprocess.run(["bwrap", "--version"], capture_output=True).returncode == 0
    if sandboxed:
        assert proc.returncode == 1
        assert "Read-only file system" in proc.stdout
    overlay = next((Path(env["KRAKEND_CACHE_DIR"]) / "overlays").glob("*/site/plugdep/__init__.py"))
    if sandboxed:
        assert overlay.read_text() == "NAME = 'dep'\n"


def test_a_manifest_for_another_target_is_exit_2_naming_both(tmp_path: Path) -> None:
    """Checked before any Docker work: --target owns the platform."""
    from tests.conftest import gateway_manifest

    manifest = gateway_manifest(tmp_path, target="generic/amd64", libc="GLIBC-2.36")
    wheel = plugin(tmp_path / "dist", "1")
    proc = run_krakend("test-plugin", "-s", str(wheel), "--target", "alpine/amd64", "--manifest", str(manifest))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert f"--manifest {manifest} is linux/amd64 glibc but --target alpine/amd64 is linux/amd64 musl" in proc.stderr


def test_a_real_compiled_library_from_the_index_imports_with_its_locked_runtime_dependency(
    tmp_path: Path, host_manifest: Path
) -> None:
    """cytoolz (Cython, from the configured index) needs toolz at import: with both locked the
    plugin that uses it loads; with toolz missing from the lock the import fails naming it."""
    env = {"KRAKEND_CACHE_DIR": str(tmp_path / "cache")}
    code = (
        "import cytoolz\n"
        "class HandlerRegisterer:\n"
        "    def register_handlers(self, register):\n"
        "        register('first-' + str(cytoolz.first([7, 8])), lambda c, n: n)\n"
    )
    wheel = make_wheel(tmp_path, "usestoolz", "0.1", {"usestoolz/__init__.py": code}, ("cytoolz",))
    full = lockfile(tmp_path, "cytoolz==1.1.0", "toolz==1.1.0")
    argv = ["test-plugin", "-s", str(wheel), "--manifest", str(host_manifest), "--lock"]
    proc = run_krakend(*argv, str(full), "-o", "json", env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert json.loads(proc.stdout)["findings"][0]["message"] == "registered: first-7"
    partial = tmp_path / "partial"
    partial.mkdir()
    proc = run_krakend(*argv, str(lockfile(partial, "cytoolz==1.1.0")), env=env, timeout=600)
    assert proc.returncode == 1
    assert "No module named 'toolz'" in proc.stdout


def test_requires_dist_follows_the_gateways_markers_not_extras(tmp_path: Path, host_manifest: Path) -> None:
    from krakend_tools.manifest.model import load
    from krakend_tools.plugin_test.gateway_env import Overlay, Pin, requires_problems

    info = tmp_path / "acme-0.1.dist-info"
    info.mkdir()
    lines = [
        "Requires-Dist: winonly ; sys_platform == 'win32'",
        "Requires-Dist: optional ; extra == 'fast'",
        "Requires-Dist: plugdep>=1",
        "Requires-Dist: needed",
    ]
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme\nVersion: 0.1\n" + "\n".join(lines) + "\n")
    overlay = Overlay(lockfile="uv.lock", packages=[Pin("plugdep", "1.0")])
    assert requires_problems(info, load(host_manifest), overlay) == [
        "needs needed (Requires-Dist), which neither the gateway nor uv.lock provides"
    ]


class FakeEngine:
    """The two image calls gateway_image makes, recorded (a seam of ours, not Docker)."""

    def __init__(self, runtime_labels: dict[str, str]) -> None:
        self.images: dict[str, dict[str, str]] = {"runtime:1": runtime_labels}
        self.built: list[tuple[str, list[str], str]] = []

    def image_attrs(self, name: str) -> dict[str, object] | None:
        labels = self.images.get(name)
        return None if labels is None else {"Id": f"sha256:{name}", "Config": {"Labels": labels}}

    def labels(self, name: str) -> dict[str, str]:
        return dict(self.images[name])

    def build_image(
        self, context: Path, tag: str, *, buildargs: dict[str, str], platform: str, labels: dict[str, str]
    ) -> None:
        files = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
        self.built.append((tag, files, (context / "Dockerfile").read_text()))
        self.images[tag] = dict(labels)


def test_gateway_image_is_built_once_per_runtime_and_pins(
    tmp_path: Path, host_manifest: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typing import Any, cast

    from krakend_tools.manifest.model import Manifest
    from krakend_tools.manifest.platforms import Target
    from krakend_tools.plugin_test.gateway_env import Pin, gateway_image

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    data = json.loads(host_manifest.read_text())
    runtime = Manifest.from_dict({**data, "distributions": {}, "site_packages": ["/usr/local/lib/python3.11/x"]})
    gateway = Manifest.from_dict({**data, "distributions": {"plugdep": "1.0"}})
    engine = FakeEngine({"io.krakend.manifest": json.dumps(runtime.to_dict())})
    said: list[str] = []
    first = gateway_image(cast(Any, engine), "runtime:1", Target("generic", "amd64"), gateway, said.append)
    assert first.image is not None and first.image.startswith("krakend-tools/gateway:generic-amd64-")
    assert first.installed == [Pin("plugdep", "1.0")]
    [(tag, files, dockerfile)] = engine.built
    assert tag == first.image and "site/plugdep/__init__.py" in files
    assert "COPY site/ /usr/local/lib/python3.11/x/" in dockerfile
    assert any(s.startswith("fetching 1 wheel(s)") for s in said)
    said.clear()
    again = gateway_image(cast(Any, engine), "runtime:1", Target("generic", "amd64"), gateway, said.append)
    assert (again.image, again.installed, said, len(engine.built)) == (first.image, first.installed, [], 1)
    same = gateway_image(cast(Any, engine), "runtime:1", Target("generic", "amd64"), runtime, said.append)
    assert same.image == "runtime:1"  # nothing to add: the runtime image as is


def test_an_image_of_another_python_than_the_manifest_is_refused_naming_both(tmp_path: Path) -> None:
    from krakend_tools.errors import InputError
    from krakend_tools.manifest.model import load
    from krakend_tools.plugin_test.docker_runner import _same_platform
    from tests.conftest import gateway_manifest

    manifest = load(gateway_manifest(tmp_path, target="generic/amd64", python="3.11.7", libc="GLIBC-2.36"))
    _same_platform(manifest, "--image ok", "amd64", "glibc", "cpython-311-x86_64-linux-gnu")
    with pytest.raises(InputError) as err:
        _same_platform(manifest, "--image gw:1", "amd64", "glibc", "cpython-312-x86_64-linux-gnu")
    assert str(err.value) == (
        f"--manifest {manifest.source} is linux/amd64 glibc, cpython-311-x86_64-linux-gnu but --image gw:1 is "
        "linux/amd64 glibc, cpython-312-x86_64-linux-gnu: they must describe the same gateway (drop --manifest "
        "to use the manifest the runtime image carries)"
    )
